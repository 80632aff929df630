"""Crash-safe file writes: a killed process never leaves half a state or results file."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class CorruptFileError(ValueError):
    """A saved file that cannot be read; it is reported and left as it is."""


def file_checksum(path: str | Path) -> str:
    """sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: str | Path) -> Any:
    """Read a JSON file, turning a corrupt one into an error that names the file."""
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        message = f"{path} is corrupt (not UTF-8 text: {err}); it was left as it is"
        raise CorruptFileError(message) from err
    except json.JSONDecodeError as err:
        message = f"{path} is corrupt (not valid JSON: {err}); it was left as it is"
        raise CorruptFileError(message) from err


def _torn(tail: bytes) -> bool:
    """Whether the last line of a JSON-lines file, which lacks its newline, is an append cut
    short (a kill or a power cut in ``append_json_line``): the start of a JSON object without
    its end. A whole object only missing its newline is not torn."""
    if not tail.startswith(b"{"):
        return False
    try:
        json.loads(tail.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return True
    return False


def read_json_lines(path: str | Path) -> list[tuple[int, Any]]:
    """``(line number, value)`` of each non-blank line of a JSON-lines file; a line that is
    not UTF-8 text or not JSON is a ``CorruptFileError`` naming the file and the line. A torn
    last line (``_torn``: an append that a kill cut short, or one still being written) is not
    a line yet, and is skipped."""
    lines = Path(path).read_bytes().split(b"\n")
    if _torn(lines[-1]):
        lines.pop()
    rows = []
    for number, raw in enumerate(lines, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise CorruptFileError(f"{path}:{number} is not UTF-8 text ({err})") from err
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as err:
            raise CorruptFileError(f"{path}:{number} is not valid JSON: {err}") from err
    return rows


def _open_own(path: Path, kind: str) -> int:
    """A read-write descriptor of ``path`` (created if missing, not truncated); a symbolic
    link planted there is refused, naming it, rather than followed to another file."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as err:
        if err.errno == errno.ELOOP:
            message = f"{path} is a symbolic link, not a {kind}; remove it and run again"
            raise CorruptFileError(message) from None
        raise


def append_json_line(path: str | Path, value: Any) -> None:
    """Append ``value`` as one line to a JSON-lines file (created if missing, never followed
    if it is a symbolic link) and flush it to disk before returning.

    The file is never rewritten, so a kill leaves every earlier line as it was and at most a
    torn last line, which ``read_json_lines`` skips and this cuts before appending. The caller
    holds a lock against other writers.
    """
    path = Path(path)
    created = not path.exists()
    fd = _open_own(path, "results file")
    line = (json.dumps(value) + "\n").encode()
    with open(fd, "r+b") as handle:
        data = handle.read()
        tail = data[data.rfind(b"\n") + 1 :]
        if _torn(tail):
            handle.seek(len(data) - len(tail))
            handle.truncate()
        elif tail:  # a whole last line that only lacks its newline
            line = b"\n" + line
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        _fsync_folder(path.parent)


@contextmanager
def file_lock(path: str | Path, wait: bool = True) -> Iterator[bool]:
    """An exclusive ``flock`` on the lock file ``path`` (created if missing, never truncated,
    never followed if it is a symbolic link); yields whether it was obtained. The operating
    system releases it when the process dies."""
    fd = _open_own(Path(path), "lock file")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(path: Path) -> None:
    """Flush a folder's entries (a rename) to disk, where the file system lets a folder be
    opened and synced; the rename itself has happened either way."""
    try:
        _fsync(path)
    except OSError as err:
        if err.errno not in (errno.EACCES, errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; once the block succeeds it replaces ``path``.

    The temporary file is flushed to disk before it replaces ``path`` and the folder after,
    so that a power cut leaves the old file or the new one, never an empty one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    owner = f"{os.getpid()}-{threading.get_ident()}"  # one per process and thread
    tmp = path.with_name(f".{path.name}.{owner}.tmp{path.suffix}")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj))
