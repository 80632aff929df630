"""A project's database and settings are checked whenever it is opened, before any work:
damage is a one-line error naming the file, and nothing is written or trained."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from ll4al.cli import main

from ..hardening import refused, snapshot
from ..project_helpers import table, tiny_project

NAMES = ["a.png", "b.png", "c.png", "d.png", "e.png"]


pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture
def project(tmp_path) -> Path:
    """Labeled enough (a: cat, b: dog, c: cat) that the next query trains a round."""
    return tiny_project(tmp_path, NAMES, [("a.png", "cat"), ("b.png", "dog"), ("c.png", "cat")])


def truncate(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])


def scramble(db: Path) -> None:
    db.write_bytes(bytes(range(256)) * 64)


def alter(db: Path, sql: str) -> None:
    connection = sqlite3.connect(db)
    connection.execute(sql)
    connection.commit()
    connection.close()


def rename_column(db: Path) -> None:
    alter(db, "ALTER TABLE labels RENAME COLUMN value TO answer")


def rename_table(db: Path) -> None:
    alter(db, "ALTER TABLE labels RENAME TO old_labels")


@pytest.mark.parametrize("damage", [truncate, scramble, rename_column, rename_table])
@pytest.mark.parametrize("command", ["status", "query"])
def test_a_damaged_database_is_named_and_left_as_it_is(project, capsys, damage, command):
    damage(project / "project.sqlite")
    args = [command, str(project)] + (["--k", "1", "--quiet"] if command == "query" else [])
    refused(capsys, args, project, "project.sqlite", "restore")
    assert not (project / "models").exists()


def test_a_deleted_database_is_not_recreated_empty(project, capsys):
    (project / "project.sqlite").unlink()
    for command in (["status"], ["add"], ["query", "--k", "1"], ["label"]):
        refused(capsys, [command[0], str(project), *command[1:]], project, "missing", "backup")
    assert not (project / "project.sqlite").exists()


def test_a_database_another_program_holds_is_found_before_training(project, capsys):
    other = sqlite3.connect(project / "project.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a database browser in the middle of a write
    try:
        args = ["query", str(project), "--k", "1", "--quiet"]
        refused(capsys, args, None, "project.sqlite", "cannot be written")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert not (project / "models").exists() and not (project / "batches").exists()


def edit(key: str, value) -> Callable[[dict], None]:
    def change(settings: dict) -> None:
        *path, last = key.split(".")
        for part in path:
            settings = settings[part]
        settings[last] = value

    return change


def drop_labeled_class(settings: dict) -> None:
    settings["classes"] = ["dog", "bird"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (edit("image_size", 0), "image_size"),
        (edit("channels", 2), "channels"),
        (drop_labeled_class, "['cat']"),
        (edit("task", "segmentation"), "task"),
        (edit("model.name", "gpt5"), "gpt5"),
        (edit("device", "cuda"), "cuda"),
        (edit("eval_batch_size", 0), "eval_batch_size"),
        (edit("active.subset", 0), "active.subset"),
        (edit("cost.money", -1), "cost.money"),
    ],
)
def test_settings_edited_by_hand_are_refused_before_a_query_trains(project, capsys, change, named):
    path = project / "project.yaml"
    settings = yaml.safe_load(path.read_text())
    change(settings)
    path.write_text(yaml.safe_dump(settings))
    if named == "cuda":
        pytest.importorskip("torch")
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    refused(capsys, ["query", str(project), "--k", "1", "--quiet"], project, named)
    assert not (project / "models").exists()


@pytest.mark.parametrize(
    ("content", "named"),
    [(b"", "is empty"), (b"name: \xff\xfe\n", "not UTF-8"), (b"[1, 2", "not valid YAML")],
)
def test_an_unreadable_settings_file_is_refused_by_every_command(project, capsys, content, named):
    (project / "project.yaml").write_bytes(content)
    before = snapshot(project)
    for args in (["status", str(project)], ["export", str(project), "--format", "csv"]):
        refused(capsys, [*args, "--out", "x.csv"] if "export" in args else args, None, named)
    assert snapshot(project) == before


def test_a_kill_between_a_rounds_weights_and_its_row_reuses_the_weights(
    project, capsys, monkeypatch
):
    from ll4al.al.session import Session
    from ll4al.project.store import Store

    class Killed(Exception):
        pass

    def killed(*args, **kwargs):
        raise Killed

    args = ["query", str(project), "--k", "1", "--quiet"]
    with monkeypatch.context() as patch:
        patch.setattr(Store, "save_round", killed)
        with pytest.raises(Killed):
            main(args)
    weights = project / "models" / "round-000-lpm.pt"  # learning-loss-balanced: with the LPM
    assert weights.is_file() and table(project, "rounds") == []
    written = weights.read_bytes()

    monkeypatch.setattr(Session, "fit", killed)  # a second training would fail the test
    capsys.readouterr()
    assert main(args) == 0
    assert "round 0: model loaded" in capsys.readouterr().out
    assert [row[0] for row in table(project, "rounds")] == [0]
    assert weights.read_bytes() == written
