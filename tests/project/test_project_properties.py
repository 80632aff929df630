"""Random sequences of imports, queries, added and replaced images, exports and killed
imports against one project, checked after every step against a plain model of what the
project should hold: no label lost or duplicated, every exported label the decided one for
exactly the registered pixels, a replaced image refused until re-registered, and every
failed command leaving the project folder as it was."""

from __future__ import annotations

import csv
import json
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ll4al.cli import main
from ll4al.project.store import Store

from ..hardening import snapshot
from ..project_helpers import tiny_init_args

FIRST = ["a/x.png", "b/x.png", "y.png", "z.png"]
ROWS = st.lists(
    st.tuples(st.integers(0, 7), st.sampled_from(["cat", "dog"]), st.sampled_from(["ann", "bob"])),
    min_size=1,
    max_size=4,
)
ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("import"), ROWS),
        st.tuples(st.just("killed import"), ROWS),
        st.tuples(st.just("replace"), st.integers(0, 7), st.integers(1, 10**6)),
        st.tuples(st.just("restore"), st.integers(0, 7)),
        st.tuples(st.just("add"), st.booleans(), st.booleans()),
        st.tuples(st.just("export"), st.sampled_from(["csv", "imagefolder"])),
        st.tuples(st.just("query")),
    ),
    min_size=1,
    max_size=12,
)


def png(seed: int) -> bytes:
    path = Path(tempfile.mkstemp(suffix=".png")[1])
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8), "L").save(path)
    data = path.read_bytes()
    path.unlink()
    return data


def rows_of(folder: Path, table: str) -> list[tuple]:
    db = sqlite3.connect(folder / "project.sqlite")  # closed at once: no -wal left behind
    try:
        query = f"SELECT sample, annotator, value FROM {table} ORDER BY id"
        return [(s, a, json.loads(v)) for s, a, v in db.execute(query)]
    finally:
        db.close()


class Model:
    """What the project should hold: registered pixels, labels, labels set aside."""

    def __init__(self, images: Path) -> None:
        self.images = images
        self.registered = {name: (images / name).read_bytes() for name in FIRST}
        self.labels: list[tuple[str, str, str]] = []
        self.aside: list[tuple[str, str, str]] = []

    def replaced(self) -> set[str]:
        return {s for s, data in self.registered.items() if (self.images / s).read_bytes() != data}

    def latest(self, sample: str, annotator: str) -> str | None:
        found = [v for s, a, v in self.labels if (s, a) == (sample, annotator)]
        return found[-1] if found else None

    def take(self, rows: list[tuple[str, str, str]]) -> None:
        for sample, value, annotator in rows:
            if self.latest(sample, annotator) != value:
                self.labels.append((sample, annotator, value))

    def accept_changed(self) -> None:
        for sample in self.replaced():
            self.aside += [row for row in self.labels if row[0] == sample]
            self.labels = [row for row in self.labels if row[0] != sample]
            self.registered[sample] = (self.images / sample).read_bytes()

    def decided(self) -> dict[str, str]:
        first: dict[tuple[str, str], int] = {}
        latest: dict[tuple[str, str], str] = {}
        for n, (sample, annotator, value) in enumerate(self.labels):
            first.setdefault((sample, value), n)
            latest[(sample, annotator)] = value
        votes: dict[str, Counter] = {}
        for (sample, _), value in latest.items():
            votes.setdefault(sample, Counter())[value] += 1
        decided = {}
        for sample, counter in votes.items():
            top = max(counter.values())
            tied = [v for v, n in counter.items() if n == top]
            decided[sample] = min(tied, key=lambda v: first[(sample, v)])
        return decided


def run(args: list[str], project: Path) -> int:
    """Run a command; a failed one must leave the project folder byte-identical."""
    before = snapshot(project)
    code = main(args)
    if code != 0:
        assert code == 2
        assert snapshot(project) == before, args
    return code


def check(project: Path, model: Model, capsys) -> None:
    assert rows_of(project, "labels") == model.labels  # none lost, none duplicated, in order
    assert sorted(rows_of(project, "labels_aside")) == sorted(model.aside)
    capsys.readouterr()
    assert main(["status", str(project), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info["replaced"]) == model.replaced()
    assert info["labeled"] == len(model.decided())


def export_matches(project: Path, model: Model, fmt: str, out: Path) -> None:
    decided = model.decided()
    if fmt == "csv":
        with open(out, newline="") as handle:
            assert {r["path"]: r["label"] for r in csv.DictReader(handle)} == decided
        return
    files = [p for p in out.rglob("*.png")]
    exported = sorted((p.parent.name, p.read_bytes()) for p in files)
    assert exported == sorted((v, model.registered[s]) for s, v in decided.items())


@pytest.mark.filterwarnings("ignore")
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same sequences on every run: CI time and results are stable
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=ACTIONS)
def test_random_command_sequences_keep_every_invariant(actions, capsys, monkeypatch):
    with tempfile.TemporaryDirectory() as tmp:
        monkeypatch.setenv("LL4AL_CACHE", str(Path(tmp) / "cache"))
        images, project = Path(tmp) / "images", Path(tmp) / "project"
        for n, name in enumerate(FIRST):
            (images / name).parent.mkdir(parents=True, exist_ok=True)
            (images / name).write_bytes(png(n))
        assert main(tiny_init_args(project, images)) == 0
        model, step = Model(images), 0
        for action in actions:
            step += 1
            kind, ids = action[0], sorted(model.registered)
            if kind in ("import", "killed import"):
                rows = [(ids[i % len(ids)], value, who) for i, value, who in action[1]]
                file = Path(tmp) / f"labels-{step}.csv"
                with open(file, "w", newline="") as handle:
                    writer = csv.writer(handle)
                    writer.writerow(["path", "label", "annotator"])
                    writer.writerows([(s, v, a) for s, v, a in rows])
                given_twice = {
                    (s, a)
                    for s, v, a in rows
                    for s2, v2, a2 in rows
                    if (s, a) == (s2, a2) and v != v2
                }
                args = ["import", str(project), str(file), "--outside-batch"]
                if kind == "killed import":
                    before = snapshot(project)

                    def killed(*_args, **_kwargs):
                        raise KeyboardInterrupt  # the transaction is rolled back, as by a kill

                    with monkeypatch.context() as patch:
                        patch.setattr(Store, "close_finished_batches", killed)
                        assert main(args) in (2, 130)
                    assert snapshot(project) == before
                    continue
                code = run(args, project)
                assert code == (2 if given_twice else 0)
                if code == 0:
                    model.take(rows)
            elif kind == "replace":
                (images / ids[action[1] % len(ids)]).write_bytes(png(1000 + action[2]))
            elif kind == "restore":
                sample = ids[action[1] % len(ids)]
                (images / sample).write_bytes(model.registered[sample])
            elif kind == "add":
                _, accept, new = action
                if new:
                    name = f"new/{step}.png"
                    (images / name).parent.mkdir(exist_ok=True)
                    (images / name).write_bytes(png(2000 + step))
                args = ["add", str(project), "--quiet"] + (["--accept-changed"] if accept else [])
                assert run(args, project) == 0
                if new:
                    model.registered[name] = (images / name).read_bytes()
                if accept:
                    model.accept_changed()
            elif kind == "export":
                out = Path(tmp) / f"export-{action[1]}"
                out = out.with_suffix(".csv") if action[1] == "csv" else out
                before = snapshot(out)
                code = run(
                    ["export", str(project), "--format", action[1], "--out", str(out)], project
                )
                assert code == (2 if model.replaced() else 0)
                if code == 0:
                    export_matches(project, model, action[1], out)
                else:
                    assert snapshot(out) == before
            else:
                code = run(["query", str(project), "--k", "1", "--quiet"], project)
                if model.replaced():
                    assert code == 2
            check(project, model, capsys)
