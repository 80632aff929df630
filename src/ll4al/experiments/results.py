"""``results.jsonl``, the one record per strategy, seed and cycle that an ``ll4al run`` writes:
its only reader and writer, so the run, its resumption and the report agree on what a line is.

Each cycle's record is appended once it is computed, before the run's state says the cycle is
done (``ll4al.al.simulation``); the file is never rewritten, so it never shrinks. A kill
between the two reruns the cycle, whose record is then already there and is not added again.

``ll4al prefer`` writes a file of the same name with other records; the preference wing reads
its own with ``ll4al.preference.experiment.read_result_lines``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ll4al.config import ConfigError
from ll4al.files import CorruptFileError, append_json_line, file_lock, read_json_lines

RESULTS_FILE = "results.jsonl"
LOCK_FILE = "results.jsonl.lock"
_KEY = ("strategy", "seed", "cycle")
_REPORT_KEY = {"strategy": str, "seed": int, "labeled": int}


def _key(record: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(record[k] for k in _KEY)


def _checked_records(
    path: Path,
    identity: Callable[[Any], tuple[Any, ...] | None],
    refuse: Callable[[int], Exception],
) -> list[dict[str, Any]]:
    """The file's records, each with an identity that no other line repeats (``refuse(line)`` is
    raised where ``identity`` gives None)."""
    records, seen = [], {}
    for number, record in read_json_lines(path):  # names the line that is not UTF-8 JSON
        key = identity(record)
        if key is None:
            raise refuse(number)
        if key in seen:
            raise CorruptFileError(f"{path}:{number} repeats the record of line {seen[key]}")
        seen[key] = number
        records.append(record)
    return records


def read_results(path: Path) -> list[dict[str, Any]]:
    """The records of an ``ll4al run`` results file (none if it does not exist), sorted by
    strategy, seed and cycle whatever order the runs appended them in; a file that is corrupt,
    repeats a record or holds records another command wrote (``ll4al prefer``'s) is an error
    naming it, and is left as it is."""
    if not path.exists():
        return []

    def identity(record: Any) -> tuple[Any, ...] | None:
        if not isinstance(record, dict) or not all(
            isinstance(record.get(k), kind) and not isinstance(record.get(k), bool)
            for k, kind in zip(_KEY, (str, int, int), strict=True)
        ):
            return None
        return _key(record)

    records = _checked_records(
        path,
        identity,
        lambda number: ConfigError(
            f"{path}:{number} is not a record of `ll4al run` (it needs strategy, seed and "
            "cycle; `ll4al prefer` writes results.jsonl too); use another --out "
            "(the folder was left as it is)"
        ),
    )
    return sorted(records, key=_key)


def run_records(out_dir: Path, strategy: str, seed: int) -> list[dict[str, Any]]:
    """The records one run (``strategy``, ``seed``) appended to ``out_dir``'s results so far,
    in cycle order: a resumed run's curve, which its stop rule is checked on."""
    return [
        r
        for r in read_results(out_dir / RESULTS_FILE)
        if r["strategy"] == strategy and r["seed"] == seed
    ]


def read_report_records(path: str | Path) -> list[dict[str, Any]]:
    """The records a report summarises, keyed by strategy, seed and labeled count, naming the
    line of any record that would silently skew the means (corrupt, incomplete, repeated)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pass the output directory of a run")

    def identity(record: Any) -> tuple[Any, ...] | None:
        if not isinstance(record, dict) or not all(
            isinstance(record.get(key), kind) for key, kind in _REPORT_KEY.items()
        ):
            return None
        return tuple(record[k] for k in _REPORT_KEY)

    return _checked_records(
        path,
        identity,
        lambda number: CorruptFileError(
            f"{path}:{number} is not a result record (needs strategy, seed and labeled)"
        ),
    )


def append_result(out_dir: Path, record: dict[str, Any]) -> bool:
    """Append one cycle's record to ``out_dir``'s ``results.jsonl`` unless the file holds a
    record of its strategy, seed and cycle already (a cycle rerun after a kill, deterministic
    but for its timings); whether it was added.

    Under a lock on ``results.jsonl.lock``, so that workers writing at once never lose or
    repeat a row; the line is on disk when this returns.
    """
    path = out_dir / RESULTS_FILE
    with file_lock(out_dir / LOCK_FILE):
        if any(_key(r) == _key(record) for r in read_results(path)):
            return False
        append_json_line(path, record)
    return True
