"""Several workers, one experiment: each (strategy, seed) run is claimed by one process."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def claim(run_dir: Path, wait: bool) -> Iterator[bool]:
    """An exclusive lock on one (strategy, seed) run; yields whether it was obtained.

    Why: the same ``ll4al run`` started in several processes (one per GPU, or one
    single-threaded process per CPU core) then shares the runs instead of repeating them.
    The lock is the operating system's (``flock``), so it is released when a worker dies.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
