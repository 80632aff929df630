"""Several workers, one experiment: each (strategy, seed) run is claimed by one process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ll4al.distributed import World, broadcast
from ll4al.files import file_lock


@contextmanager
def claim(run_dir: Path, wait: bool) -> Iterator[bool]:
    """An exclusive lock on one (strategy, seed) run; yields whether it was obtained.

    Why: the same ``ll4al run`` started in several processes (one per GPU, or one
    single-threaded process per CPU core) then shares the runs instead of repeating them.
    The lock is the operating system's (``flock``), so it is released when a worker dies.
    The lock file is opened without truncating it and never through a symbolic link.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(run_dir / "lock", wait) as obtained:
        yield obtained


@contextmanager
def job_claim(run_dir: Path, wait: bool, current: World) -> Iterator[bool]:
    """``claim`` for a whole torchrun job: rank 0 takes the lock and tells the other ranks
    whether the job has the run, so a job claims a run once, however many ranks it has."""
    if not current.distributed:
        with claim(run_dir, wait) as obtained:
            yield obtained
        return
    if current.is_main:
        with claim(run_dir, wait) as obtained:
            yield broadcast(obtained, current)
    else:
        yield broadcast(None, current)
