"""Crash-safe file writes: a killed process never leaves half a state or results file."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class CorruptFileError(ValueError):
    """A saved file that cannot be read; it is reported and left as it is."""


def read_json(path: str | Path) -> Any:
    """Read a JSON file, turning a corrupt one into an error that names the file."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        message = f"{path} is corrupt (not valid JSON: {err}); it was left as it is"
        raise CorruptFileError(message) from err


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; once the block succeeds it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")  # one per process
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj))
