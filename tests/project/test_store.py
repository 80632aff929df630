"""The store's schema version: a project made before there was one (``samples.split``, always
'pool') still opens, answers its queries and takes imports, migrated once on open."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from ll4al.cli import main
from ll4al.files import CorruptFileError
from ll4al.project.store import SCHEMA_VERSION, NewLabel, Sample, Store

from ..project_helpers import TRAINING, answer_batch, export_digits, init_digits_project, table

# The CREATE statements of every store made before the schema version, as they were.
OLD_SCHEMA = (Path(__file__).parent / "store_schema_v0.sql").read_text()
# Older still: rounds did not record their training.
OLDEST_SCHEMA = OLD_SCHEMA.replace(
    "    created TEXT NOT NULL,\n    training TEXT", "    created TEXT NOT NULL"
)

TABLES = ("samples", "batches", "batch_items", "labels", "sample_groups", "rounds")


def old_store(folder: Path, schema: str = OLD_SCHEMA) -> Path:
    """A store as ll4al wrote it before the schema version: two samples, a batch, a label."""
    path = folder / "project.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(schema)
        db.executemany(
            "INSERT INTO samples VALUES (?, ?, 'pool', ?, 8, 8)",
            [("b/1.png", 1, "sum-b"), ("a/0.png", 0, "sum-a")],
        )
        db.execute("INSERT INTO batches VALUES (1, 'random', NULL, 'then', 'open')")
        db.execute("INSERT INTO batch_items VALUES (1, 'a/0.png', 1, NULL, NULL)")
        db.execute("INSERT INTO labels VALUES (7, 'a/0.png', '\"a\"', 'ana', 2.0, 't', 'x', 1)")
        db.execute("INSERT INTO sample_groups VALUES ('a/0.png', 'p', 's', 'r')")
        rounds = "(0, 1, 'digest', 'round-000.pt', NULL, 1.5, 'then')"
        if "training TEXT" in schema:
            rounds = rounds[:-1] + ", NULL)"
        db.execute(f"INSERT INTO rounds VALUES {rounds}")
    db.close()
    return path


def columns(path: Path, table_name: str) -> list[str]:
    with sqlite3.connect(path) as db:
        names = [row[1] for row in db.execute(f"PRAGMA table_info({table_name})")]
    db.close()
    return names


@pytest.mark.parametrize("schema", [OLD_SCHEMA, OLDEST_SCHEMA], ids=["old", "oldest"])
def test_a_store_made_before_the_schema_version_opens_migrated(tmp_path, schema):
    path = old_store(tmp_path, schema)
    assert ("training" in columns(path, "rounds")) == (schema == OLD_SCHEMA)
    store = Store(tmp_path)
    assert store.samples() == [
        Sample("a/0.png", 0, "sum-a", 8, 8),
        Sample("b/1.png", 1, "sum-b", 8, 8),
    ]
    assert store.pool_size() == 2 and store.decided_labels() == {"a/0.png": "a"}
    assert [(b["id"], b["size"], b["labeled"]) for b in store.batches()] == [(1, 1, 1)]
    assert store.groups("patient") == {"a/0.png": "p"}
    assert store.model_rounds()[0]["training"] is None
    store.close()
    assert columns(path, "samples") == ["id", "pool_index", "checksum", "width", "height"]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        references = {
            row[2] for name in ("labels", "batch_items", "sample_groups")
            for row in db.execute(f"PRAGMA foreign_key_list({name})")
        }  # fmt: skip
        assert references <= {"samples", "batches"} and "samples" in references
    db.close()

    store = Store(tmp_path)  # opened again: nothing left to migrate
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"), store.transaction() as db:
        db.execute("INSERT INTO labels VALUES (8, 'gone.png', '\"a\"', 'ana', 1, 't', 'x', 1)")
    with store.transaction() as db:
        store.add_samples(db, [Sample("c/2.png", 2, "sum-c", 8, 8)])
    assert store.pool_size() == 3
    store.close()


# Version 1: samples without split, labels still unique per (sample, annotator, value).
V1_SCHEMA = OLD_SCHEMA.replace("    split TEXT NOT NULL,            -- 'pool' or 'eval'\n", "")


@pytest.mark.parametrize("version", [0, 1])
def test_labels_lose_their_unique_constraint_in_the_migration(tmp_path, version):
    path = tmp_path / "project.sqlite"
    if version == 0:
        old_store(tmp_path)
    else:
        with sqlite3.connect(path) as db:
            db.executescript(V1_SCHEMA)
            db.execute("INSERT INTO samples VALUES ('a/0.png', 0, 'sum-a', 8, 8)")
            db.execute(
                "INSERT INTO labels VALUES (7, 'a/0.png', '\"a\"', 'ana', 2, 't', 'x', NULL)"
            )
            db.execute("PRAGMA user_version = 1")
        db.close()
    assert "UNIQUE (sample, annotator, value)" in OLD_SCHEMA
    store = Store(tmp_path)
    for value in ("b", "a"):  # changed, then changed back: both stored
        with store.transaction() as db:
            assert store.add_label(db, NewLabel("a/0.png", value, "ana", 1.0, "t", None))
    assert [(row["id"], row["value"]) for row in store.labels()] == [
        (7, '"a"'),
        (8, '"b"'),
        (9, '"a"'),
    ]  # the migrated label keeps its id
    assert store.decided_labels() == {"a/0.png": "a"}
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'labels'").fetchone()[0]
        assert "UNIQUE" not in sql.upper()
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    db.close()


def test_a_store_of_a_later_schema_is_refused_and_left_alone(tmp_path):
    path = old_store(tmp_path)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = path.read_bytes()
    with pytest.raises(CorruptFileError, match="made by a later ll4al"):
        Store(tmp_path)
    assert path.read_bytes() == before


def test_an_old_project_still_shows_status_queries_and_imports(tmp_path, capsys, monkeypatch):
    """A project with a labeled first batch whose database is rebuilt as the old CREATE
    statements made it: status, query and import work on it, and nothing it held is lost."""
    monkeypatch.setenv("LL4AL_CACHE", str(tmp_path / "cache"))
    digits = export_digits(tmp_path / "digits")
    project = tmp_path / "project"
    settings = [*TRAINING, "active.subset=200"]
    assert main(init_digits_project(project, digits, 20, settings)) == 0
    assert main(["query", str(project), "--k", "20", "--quiet"]) == 0  # the random first batch
    first = answer_batch(project / "batches" / "batch-001.csv", tmp_path / "1.csv")
    assert main(["import", str(project), str(first)]) == 0
    path = project / "project.sqlite"
    new = {name: table(project, name) for name in TABLES}

    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as db:
        db.executescript(OLD_SCHEMA)
        db.execute("ATTACH DATABASE ? AS new", (str(path),))
        db.execute(
            "INSERT INTO samples SELECT id, pool_index, 'pool', checksum, width, height "
            "FROM new.samples"
        )
        for name in TABLES[1:]:
            db.execute(f"INSERT INTO {name} SELECT * FROM new.{name}")
    db.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(old, path)
    assert "split" in columns(path, "samples") and len(table(project, "labels")) == 20

    capsys.readouterr()
    assert main(["status", str(project)]) == 0
    assert "20 of 1257 images labeled" in capsys.readouterr().out
    assert {name: table(project, name) for name in TABLES} == new  # migrated, nothing lost
    assert main(["query", str(project), "--k", "5", "--quiet"]) == 0  # trains round 0
    second = answer_batch(project / "batches" / "batch-002.csv", tmp_path / "2.csv")
    assert main(["import", str(project), str(second)]) == 0
    assert len(table(project, "labels")) == 25 and len(table(project, "rounds")) == 1
    assert [row[-1] for row in table(project, "batches")] == ["done", "done"]
