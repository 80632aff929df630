"""``results.jsonl``, the one record per strategy, seed and cycle that an ``ll4al run`` writes:
its only reader and writer, so the run, its resumption and the report agree on what a line is.

``ll4al prefer`` writes a file of the same name with other records; the preference wing reads
its own with ``ll4al.preference.experiment.read_result_lines``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ll4al.config import ConfigError
from ll4al.files import CorruptFileError, file_lock, read_json_lines, write_text_atomic

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
    """The records of an ``ll4al run`` results file (none if it does not exist); a file that
    is corrupt, repeats a record or holds records another command wrote (``ll4al prefer``'s)
    is an error naming it, and is left as it is."""
    if not path.exists():
        return []

    def identity(record: Any) -> tuple[Any, ...] | None:
        if not isinstance(record, dict) or not all(
            isinstance(record.get(k), kind) and not isinstance(record.get(k), bool)
            for k, kind in zip(_KEY, (str, int, int), strict=True)
        ):
            return None
        return _key(record)

    return _checked_records(
        path,
        identity,
        lambda number: ConfigError(
            f"{path}:{number} is not a record of `ll4al run` (it needs strategy, seed and "
            "cycle; `ll4al prefer` writes results.jsonl too); use another --out "
            "(the folder was left as it is)"
        ),
    )


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


def merge_results(out_dir: Path, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge ``records`` into ``results.jsonl`` and return all of its records, sorted by
    strategy, seed and cycle.

    Under a lock on ``results.jsonl.lock``, the file is read, united with the records by
    (strategy, seed, cycle) (the new ones win; they are deterministic anyway) and replaced
    atomically. So the file never shrinks: a resumed run never duplicates a line, a rerun with
    fewer strategies or seeds keeps the others' rows, and workers writing at once never drop
    each other's rows.
    """
    path = out_dir / RESULTS_FILE
    with file_lock(out_dir / LOCK_FILE):
        merged = {_key(r): r for r in read_results(path)}
        merged.update({_key(r): r for r in records})
        ordered = [merged[key] for key in sorted(merged)]
        write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in ordered))
    return ordered
