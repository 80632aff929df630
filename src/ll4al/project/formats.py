"""What every label file reader returns, and the one error it raises.

Readers (Label Studio JSON, CSV) are pure functions from a file to ``LabelRecord`` objects, so
the store can check and save labels without knowing where they came from. Every problem with
a file is a ``LabelFileError`` whose message is one line naming the file, the place in it and
the problem: a user fixes that line and imports again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ll4al.text import show  # re-exported: the label readers quote values with it

__all__ = ["MAX_SECONDS", "LabelFileError", "LabelRecord", "read_text", "show"]

#: The longest time one label may record: a day (more is a typo or a clock, not work done).
MAX_SECONDS = 24 * 3600.0


class LabelFileError(ValueError):
    """A label file that cannot be imported; one line naming file, place and problem."""


@dataclass(frozen=True)
class LabelRecord:
    """One label as a file gives it, before the store checks it against the project.

    ``key`` is a sample id or an image path relative to the image root, as written in the
    file; ``where`` ("line 3", "task 17 annotation 4") lets later checks (unknown sample,
    unknown class) point at the place in the file too. ``project`` and ``checksum`` are the
    ll4al project and the image's sha256 the file says it is about, where it says (Label
    Studio tasks ll4al wrote), so an import can refuse another project's labels or labels
    of a changed image. ``ref`` names the annotation in the tool that made it (Label
    Studio's annotation id), so a later, edited version of it is known as the same one.
    """

    key: str
    value: Any
    annotator: str
    seconds: float | None
    where: str
    cancelled: bool = False
    project: str | None = None
    checksum: str | None = None
    ref: str | None = None


def read_text(path: Path) -> str:
    """A label file's text, UTF-8 with or without a BOM; anything else is a ``LabelFileError``.

    Why not let ``open`` fail: a file saved by a spreadsheet in a legacy encoding, or a picked
    image instead of a label file, should say so in one line rather than as a traceback.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise LabelFileError(f"{path}: cannot be read ({err.strerror or err})") from err
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or _looks_utf16(data):
        raise LabelFileError(f"{path}: line 1: UTF-16 text; save the file as UTF-8")
    if b"\x00" in data:  # no text file has a NUL byte; an image or an archive does
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise LabelFileError(f"{path}: line {line}: a binary file, not a text label file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        message = f"{path}: line {line}: not UTF-8 text (save the file as UTF-8)"
        raise LabelFileError(message) from err


def _looks_utf16(data: bytes) -> bool:
    """Text saved as UTF-16 without a byte-order mark: ASCII with a NUL after (or before)
    every character."""
    head = data[:200]
    if len(head) < 4 or len(head) % 2:
        return False
    return any(
        head[zeros::2].count(0) == len(head) // 2 and 0 not in head[1 - zeros :: 2]
        for zeros in (0, 1)
    )


def check_seconds(value: Any, path: Path, where: str) -> float | None:
    """Annotation time as a finite number >= 0, or None when the file does not record it."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LabelFileError(f"{path}: {where}: seconds {show(value)} is not a number")
    try:
        seconds = float(value)
    except OverflowError:  # an integer too large for a float
        seconds = math.inf
    return seconds_in_range(seconds, value, path, where)


def seconds_in_range(seconds: float, value: Any, path: Path, where: str) -> float:
    """``seconds`` if it is a time one label can take (0 to ``MAX_SECONDS``), else an error
    quoting the file's ``value``."""
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_SECONDS:
        raise LabelFileError(
            f"{path}: {where}: seconds {show(value)} is not a number from 0 to {MAX_SECONDS:.0f}"
        )
    return seconds
