"""What the hardening tests share: tiny demo arguments, a folder snapshot, the one-line
refusal check."""

from __future__ import annotations

import json
from pathlib import Path

from ll4al import cli

TINY = ["active.cycles=2", "seeds=[0]", "train.epochs=2"]
TIMINGS = ("train_seconds", "query_seconds")


def sets(*settings: str) -> list[str]:
    return [arg for setting in settings for arg in ("--set", setting)]


def demo_args(out: Path, *extra: str) -> list[str]:
    return ["demo", "--out", str(out), *sets(*TINY, *extra), "--quiet", "--from-scratch-only"]


def snapshot(folder: Path) -> dict[str, bytes] | None:
    """Every file under ``folder`` with its bytes (None if the folder does not exist)."""
    if not folder.exists():
        return None
    if folder.is_file():
        return {"": folder.read_bytes()}
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def refused(capsys, args: list[str], out: Path | None, *names: str) -> str:
    """Run the command, expecting exit 2 and one line on stderr that names each of ``names``,
    with ``out`` byte-identical before and after; returns the line."""
    before = snapshot(out) if out is not None else None
    code = cli.main(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("ll4al: error: "), err
    for name in names:
        assert name in lines[0], (name, lines[0])
    if out is not None:
        assert snapshot(out) == before
    return lines[0]


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def without_timings(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMINGS} for r in records]


class Killed(Exception):
    pass


def replace_then_kill(src, dst):
    raise Killed
