"""The project's SQLite database: samples, labels, batches and model rounds.

One transaction per command (``Store.transaction``), WAL journal: a process killed mid-command
leaves the database as it was before the command, never half a batch or half an import.
Labels are never updated: a second annotator's label, or a changed mind (a change back
too), is a new row, and ``decided_labels`` applies the stated rule to decide what the model
trains on. Nor are they deleted, with two exceptions: undo on the labeling page (``ll4al
label``), where ``delete_web_label`` removes one row by id, and only a row the page itself
wrote (``source = 'web'``) for the annotator who asks; and an image replaced after labeling,
whose labels ``set_labels_aside`` moves, unchanged, to ``labels_aside`` when the user
registers the new pixels (``ll4al add --accept-changed``).

The database is checked when it is opened (``Store(check=True)``): a missing file is never
recreated empty, and a damaged one, or one whose tables lack the columns ll4al reads, is a
``StoreError`` naming it, before any command works on it.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ll4al.files import CorruptFileError

DATABASE_FILE = "project.sqlite"

#: The schema's version, kept in the database's ``PRAGMA user_version``: 0 is a database made
#: before there was one (with ``samples.split``, always 'pool'), 1 one whose labels are unique
#: per (sample, annotator, value); opening migrates both (``Store._migrate``).
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    id TEXT PRIMARY KEY,            -- the image's path relative to the image root
    pool_index INTEGER UNIQUE,      -- row in the pool
    checksum TEXT NOT NULL,         -- sha256 of the file when registered
    width INTEGER NOT NULL,
    height INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    strategy TEXT NOT NULL,
    round INTEGER,                  -- the model round that proposed it; NULL: random draw
    created TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open'  -- 'open' until every sample has a label, then 'done'
);
CREATE TABLE IF NOT EXISTS batch_items (
    batch INTEGER NOT NULL REFERENCES batches(id),
    sample TEXT NOT NULL REFERENCES samples(id),
    rank INTEGER NOT NULL,
    score REAL,
    guess TEXT,                     -- the model's label, JSON
    PRIMARY KEY (batch, sample)
);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY,
    sample TEXT NOT NULL REFERENCES samples(id),
    value TEXT NOT NULL,            -- JSON: a class name, or boxes
    annotator TEXT NOT NULL,
    seconds REAL,
    created TEXT NOT NULL,
    source TEXT NOT NULL,           -- the file it was imported from, or 'web' (ll4al label)
    batch INTEGER REFERENCES batches(id)
);
CREATE INDEX IF NOT EXISTS labels_by_sample ON labels (sample, annotator);
CREATE TABLE IF NOT EXISTS labels_aside (  -- labels of images replaced after labeling
    id INTEGER PRIMARY KEY,         -- the label's id in labels
    sample TEXT NOT NULL,
    value TEXT NOT NULL,
    annotator TEXT NOT NULL,
    seconds REAL,
    created TEXT NOT NULL,
    source TEXT NOT NULL,
    batch INTEGER,
    checksum TEXT NOT NULL,         -- the pixels it was given for (sha256)
    set_aside TEXT NOT NULL         -- when `ll4al add --accept-changed` moved it here
);
CREATE TABLE IF NOT EXISTS file_stats (  -- a cheap first check that an image is unchanged
    file TEXT PRIMARY KEY,          -- the file under the image root (a DICOM's, not a frame's)
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sample_groups (  -- DICOM samples only
    sample TEXT PRIMARY KEY REFERENCES samples(id),
    patient TEXT NOT NULL,          -- PatientID, StudyInstanceUID, SeriesInstanceUID: to keep
    study TEXT NOT NULL,            -- patients apart (init --eval, active.spread); never shown
    series TEXT NOT NULL            -- on the page nor written to any file
);
CREATE TABLE IF NOT EXISTS project_info (  -- 'id': the project's identity, a random uuid
    key TEXT PRIMARY KEY,           -- written once, carried by its Label Studio tasks so an
    value TEXT NOT NULL             -- import can refuse another project's labels
);
CREATE TABLE IF NOT EXISTS skips (  -- "cannot be labeled": closes the image for its batch
    batch INTEGER NOT NULL REFERENCES batches(id),
    sample TEXT NOT NULL REFERENCES samples(id),
    annotator TEXT NOT NULL,
    seconds REAL,
    created TEXT NOT NULL,
    source TEXT NOT NULL,           -- as for labels: the file, 'web' or 'label-studio'
    PRIMARY KEY (batch, sample, annotator)
);
CREATE TABLE IF NOT EXISTS counted_time (  -- seconds of another tool's annotation already
    ref TEXT NOT NULL,              -- stored ('label-studio:<annotation id>'): an edited
    seconds REAL NOT NULL,          -- annotation's lead_time is its total, so only the rest
    created TEXT NOT NULL           -- is new
);
CREATE TABLE IF NOT EXISTS rounds (
    round INTEGER PRIMARY KEY,
    labeled INTEGER NOT NULL,
    labels_digest TEXT NOT NULL,    -- which labels it was trained on
    weights TEXT NOT NULL,          -- file name in the project's models/ folder
    metrics TEXT,                   -- JSON, on the evaluation set, if there is one
    train_seconds REAL NOT NULL,
    created TEXT NOT NULL,
    training TEXT                   -- JSON: batch, steps, schedule, augmentation used
);
"""


#: The tables and columns every command reads; a database without them is not one ll4al can
#: use (tables added later, like ``sample_groups``, are created where missing).
REQUIRED_COLUMNS = {
    "samples": ("id", "pool_index", "checksum", "width", "height"),
    "batches": ("id", "strategy", "round", "created", "status"),
    "batch_items": ("batch", "sample", "rank", "score", "guess"),
    "labels": ("id", "sample", "value", "annotator", "seconds", "created", "source", "batch"),
    "rounds": ("round", "labeled", "labels_digest", "weights", "metrics", "train_seconds"),
}

_INSERT_LABEL = (
    "INSERT INTO labels (sample, value, annotator, seconds, created, source, batch) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _latest(rows: Sequence[sqlite3.Row]) -> dict[tuple[str, str], sqlite3.Row]:
    """Each annotator's latest label of each sample, from rows in the order they were given."""
    return {(row["sample"], row["annotator"]): row for row in rows}


@dataclass(frozen=True)
class Sample:
    id: str
    pool_index: int
    checksum: str
    width: int
    height: int


@dataclass(frozen=True)
class NewLabel:
    sample: str
    value: Any
    annotator: str
    seconds: float | None
    source: str
    batch: int | None


def _label_row(n: NewLabel, created: str) -> tuple:
    return (n.sample, json.dumps(n.value), n.annotator, n.seconds, created, n.source, n.batch)


class StoreError(ValueError):
    """A project database that is missing, damaged, locked or not ll4al's: one line naming
    the file and what to do."""


class Store:
    """The database of one project folder."""

    def __init__(self, folder: Path, create: bool = False, check: bool = True) -> None:
        """Open ``folder``'s database; ``create`` makes a new one (``ll4al init`` only),
        ``check`` verifies it (every page, every table ll4al reads) before it is used."""
        self.path = Path(folder) / DATABASE_FILE
        if not create and not self.path.is_file():
            raise StoreError(
                f"{self.path} is missing: it holds the project's labels, batches and rounds; "
                "restore it from a backup (ll4al never recreates it empty)"
            )
        self.db = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions
        self.db.row_factory = sqlite3.Row
        try:
            self._prepare(create, check)
        except sqlite3.DatabaseError as err:
            self.db.close()
            raise StoreError(
                f"{self.path} is not a usable ll4al database ({err}); restore it from a backup"
            ) from None
        except (StoreError, CorruptFileError):
            self.db.close()
            raise

    def _prepare(self, create: bool, check: bool) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:  # first: refused before any check or write
            raise CorruptFileError(
                f"{self.path} has schema version {version}, made by a later ll4al (this one "
                f"reads up to {SCHEMA_VERSION}); upgrade ll4al (the file was left as it is)"
            )
        tables = {
            row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if check and not create:
            problems = self.db.execute("PRAGMA quick_check").fetchall()
            if [tuple(row) for row in problems] != [("ok",)]:
                raise StoreError(
                    f"{self.path} is damaged ({problems[0][0]}); restore it from a backup"
                )
        if tables or not create:  # an existing database: ll4al's tables, with their columns
            self._check_columns(tables)
        if version < SCHEMA_VERSION:
            self._migrate()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)  # a new database's tables, and tables added since
        if self.db.execute("SELECT 1 FROM project_info WHERE key = 'id'").fetchone() is None:
            # written once: later opens write nothing (status may run while a query writes)
            new_id = uuid.uuid4().hex
            self.db.execute("INSERT OR IGNORE INTO project_info VALUES ('id', ?)", (new_id,))

    def _check_columns(self, tables: set[str]) -> None:
        for table, needed in REQUIRED_COLUMNS.items():
            if table not in tables:
                raise StoreError(
                    f"{self.path} has no table {table!r}: not an ll4al project database, "
                    "or a damaged one; restore it from a backup"
                )
            columns = _columns(self.db, table)
            lacking = [c for c in needed if c not in columns]
            if lacking:
                raise StoreError(
                    f"{self.path}: table {table!r} lacks the columns {lacking}; "
                    "restore the database from a backup"
                )

    def _migrate(self) -> None:
        """Bring a database made by an earlier ll4al to ``SCHEMA_VERSION``, in one transaction
        (a second process opening it meanwhile waits, then finds it done). A table loses a
        column or a constraint by being copied into a new one and swapped in (foreign keys
        off meanwhile, checked before the commit): unlike ``DROP COLUMN`` (SQLite 3.35), this
        works on every SQLite a Python 3.10 may bring. Tables that are only new are not a
        version: ``SCHEMA`` creates them where missing.

        0 -> 1: ``rounds.training`` is added (empty) where rounds did not record their
        training yet, and ``samples.split`` (always 'pool') is dropped.
        1 -> 2: ``labels`` loses ``UNIQUE (sample, annotator, value)``, so a label changed
        back to an earlier value is stored (a new row); rows keep their ids."""
        self.db.execute("PRAGMA foreign_keys=OFF")  # until _prepare turns them on
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version >= SCHEMA_VERSION:
                return  # another process migrated it while this one waited
            if version < 1:
                rounds = _columns(db, "rounds")
                if rounds and "training" not in rounds:
                    db.execute("ALTER TABLE rounds ADD COLUMN training TEXT")
                if "split" in _columns(db, "samples"):
                    self._rebuild(db, "samples", REQUIRED_COLUMNS["samples"])
            if version < 2:
                sql = db.execute(
                    "SELECT sql FROM sqlite_master WHERE type='table' AND name='labels'"
                ).fetchone()
                if sql is not None and "UNIQUE" in sql[0].upper():
                    self._rebuild(db, "labels", REQUIRED_COLUMNS["labels"])
            if db.execute("PRAGMA foreign_key_check").fetchall():
                raise CorruptFileError(f"{self.path} has rows that refer to no row")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @staticmethod
    def _rebuild(db: sqlite3.Connection, table: str, columns: Sequence[str]) -> None:
        """``table`` made anew by its CREATE statement in ``SCHEMA``, ``columns`` copied."""
        create = next(s for s in SCHEMA.split(";") if f"EXISTS {table} (" in s)
        db.execute(create.replace(f"IF NOT EXISTS {table}", f"{table}_new"))
        names = ", ".join(columns)
        db.execute(f"INSERT INTO {table}_new ({names}) SELECT {names} FROM {table}")
        db.execute(f"DROP TABLE {table}")
        db.execute(f"ALTER TABLE {table}_new RENAME TO {table}")

    def check_writable(self) -> None:
        """A write transaction can start now: before a long command (``query`` trains for
        minutes) rather than at its end, where another program holding the database locked
        would make it fail after the work."""
        self.db.execute("PRAGMA busy_timeout = 1000")  # a page's answer takes milliseconds
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("ROLLBACK")
        except sqlite3.OperationalError as err:
            raise StoreError(
                f"{self.path} cannot be written ({err}): another program has it open for "
                "writing (a database browser?) or it is read-only; close it and run again"
            ) from None
        finally:
            self.db.execute("PRAGMA busy_timeout = 5000")  # sqlite3.connect's default

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read inside sees the database as it was at the first one: a reader
        (``status``, ``export``) runs beside a writer without the writer's lock."""
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    def project_id(self) -> str:
        """The project's identity (a uuid written when the database was made, or when a
        database from before it was first opened): Label Studio tasks carry it."""
        return self.db.execute("SELECT value FROM project_info WHERE key = 'id'").fetchone()[0]

    def info(self, key: str) -> str | None:
        """A value ll4al keeps about the project (e.g. its Label Studio project's id)."""
        row = self.db.execute("SELECT value FROM project_info WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_info(self, db: sqlite3.Connection, key: str, value: str) -> None:
        if key == "id":
            raise ValueError("the project's id is written once")
        db.execute("INSERT OR REPLACE INTO project_info VALUES (?, ?)", (key, value))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes of a command, or none of them."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- samples -----------------------------------------------------------------------

    def add_samples(self, db: sqlite3.Connection, samples: Sequence[Sample]) -> None:
        db.executemany(
            "INSERT INTO samples VALUES (?, ?, ?, ?, ?)",
            [(s.id, s.pool_index, s.checksum, s.width, s.height) for s in samples],
        )

    def add_groups(self, db: sqlite3.Connection, rows: Sequence[tuple[str, str, str, str]]):
        """``(sample, patient, study, series)`` of DICOM samples."""
        db.executemany("INSERT INTO sample_groups VALUES (?, ?, ?, ?)", rows)

    def groups(self, level: str) -> dict[str, str]:
        """Each DICOM sample's ``patient``, ``study`` or ``series``."""
        if level not in ("patient", "study", "series"):
            raise ValueError(f"unknown group level {level!r}")
        rows = self.db.execute(f"SELECT sample, {level} FROM sample_groups")
        return {sample: group for sample, group in rows}

    def samples(self) -> list[Sample]:
        """The pool's samples, in pool order."""
        rows = self.db.execute("SELECT * FROM samples ORDER BY pool_index, id")
        return [Sample(**dict(row)) for row in rows]

    def pool_size(self) -> int:
        """How many images the pool holds, without building them (``ll4al status``)."""
        return self.db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]

    def proposed_sample(self, sample_id: str) -> Sample | None:
        """The sample with this id if some batch proposed it, else None."""
        row = self.db.execute(
            "SELECT * FROM samples WHERE id = ? AND EXISTS "
            "(SELECT 1 FROM batch_items WHERE sample = samples.id)",
            (sample_id,),
        ).fetchone()
        return None if row is None else Sample(**dict(row))

    def file_stats(self) -> dict[str, tuple[int, int, int, int]]:
        """``file: (size, mtime_ns, ctime_ns, inode)`` when its checksum last matched."""
        rows = self.db.execute("SELECT file, size, mtime_ns, ctime_ns, inode FROM file_stats")
        return {row[0]: tuple(row[1:]) for row in rows}

    def record_file_stats(
        self, db: sqlite3.Connection, stats: Sequence[tuple[str, tuple[int, int, int, int]]]
    ) -> None:
        db.executemany(
            "INSERT OR REPLACE INTO file_stats VALUES (?, ?, ?, ?, ?)",
            [(file, *stat) for file, stat in stats],
        )

    def reregister(self, db: sqlite3.Connection, sample: Sample, checksum: str) -> int:
        """Register new pixels for ``sample`` (its file was replaced): the sample takes the new
        checksum and size, its labels move, as they are, to ``labels_aside`` (they were given
        for the old pixels), and batches it was in are open again. Returns how many labels
        were set aside."""
        moved = db.execute(
            "INSERT INTO labels_aside SELECT l.id, l.sample, l.value, l.annotator, l.seconds, "
            "l.created, l.source, l.batch, s.checksum, ? FROM labels l "
            "JOIN samples s ON s.id = l.sample WHERE l.sample = ?",
            (now(), sample.id),
        ).rowcount
        db.execute("DELETE FROM labels WHERE sample = ?", (sample.id,))
        db.execute(
            "UPDATE samples SET checksum = ?, width = ?, height = ? WHERE id = ?",
            (checksum, sample.width, sample.height, sample.id),
        )
        db.execute(
            "UPDATE batches SET status = 'open' WHERE status = 'done' AND EXISTS ("
            "SELECT 1 FROM batch_items i WHERE i.batch = batches.id AND i.sample = ?)",
            (sample.id,),
        )
        return moved

    def labels_aside(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM labels_aside ORDER BY id").fetchall()

    # --- labels ------------------------------------------------------------------------

    def add_label(self, db: sqlite3.Connection, label: NewLabel) -> int | None:
        """Insert one label; its row id, or None when it repeats the annotator's latest label
        of that sample (a label changed back to an earlier value is a new row)."""
        latest = db.execute(
            "SELECT value FROM labels WHERE sample = ? AND annotator = ? ORDER BY id DESC LIMIT 1",
            (label.sample, label.annotator),
        ).fetchone()
        if latest is not None and json.loads(latest["value"]) == label.value:
            return None
        return db.execute(_INSERT_LABEL, _label_row(label, now())).lastrowid

    def delete_web_label(
        self, db: sqlite3.Connection, label_id: int, annotator: str
    ) -> sqlite3.Row | None:
        """Undo on the labeling page: delete label ``label_id`` if the page wrote it
        (``source = 'web'``) for ``annotator``; the deleted row, or None (nothing deleted).

        The only way a label leaves the database; a batch it completed is open again."""
        row = db.execute(
            "SELECT * FROM labels WHERE id = ? AND source = 'web' AND annotator = ?",
            (label_id, annotator),
        ).fetchone()
        if row is None:
            return None
        db.execute("DELETE FROM labels WHERE id = ?", (label_id,))
        db.execute(
            "UPDATE batches SET status = 'open' WHERE status = 'done' AND EXISTS ("
            "SELECT 1 FROM batch_items i WHERE i.batch = batches.id AND NOT EXISTS ("
            "SELECT 1 FROM labels l WHERE l.sample = i.sample) AND NOT EXISTS ("
            "SELECT 1 FROM skips k WHERE k.batch = i.batch AND k.sample = i.sample))"
        )
        return row

    def add_skip(
        self,
        db: sqlite3.Connection,
        batch_id: int,
        sample: str,
        annotator: str,
        seconds: float | None,
        source: str,
    ) -> bool:
        """Record that ``annotator`` cannot label ``sample`` in batch ``batch_id``: it closes
        the image for that batch (a later batch may propose it again). False when already
        recorded. The caller closes the batches this finishes (``close_finished_batches``)."""
        cursor = db.execute(
            "INSERT OR IGNORE INTO skips VALUES (?, ?, ?, ?, ?, ?)",
            (batch_id, sample, annotator, seconds, now(), source),
        )
        return cursor.rowcount == 1

    def counted_seconds(self, ref: str) -> float:
        """Seconds of annotation ``ref`` already stored with its earlier versions."""
        row = self.db.execute("SELECT SUM(seconds) FROM counted_time WHERE ref = ?", (ref,))
        return float(row.fetchone()[0] or 0.0)

    def count_seconds(self, db: sqlite3.Connection, ref: str, seconds: float) -> None:
        db.execute("INSERT INTO counted_time VALUES (?, ?, ?)", (ref, seconds, now()))

    def skips(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM skips ORDER BY batch, created").fetchall()

    def labels(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM labels ORDER BY id").fetchall()

    def labels_in_batch(self, batch_id: int) -> list[sqlite3.Row]:
        """Every label of the batch's samples (from any source or batch), oldest first."""
        return self.db.execute(
            "SELECT l.* FROM labels l JOIN batch_items i ON i.sample = l.sample "
            "WHERE i.batch = ? ORDER BY l.id",
            (batch_id,),
        ).fetchall()

    def decided_labels(self) -> dict[str, Any]:
        """The label each labeled sample trains on.

        The rule: each annotator's latest label counts once; the value most annotators gave
        wins; a tie goes to the value given first. So one annotator correcting themselves
        replaces their label, and a second opinion only changes the label when a majority
        agrees with it.
        """
        rows = self.labels()
        first_seen: dict[tuple[str, str], int] = {}
        for row in rows:
            first_seen.setdefault((row["sample"], row["value"]), row["id"])
        votes: dict[str, Counter] = {}
        for (sample, _annotator), row in _latest(rows).items():
            votes.setdefault(sample, Counter())[row["value"]] += 1
        decided = {}
        for sample, counter in votes.items():
            top = max(counter.values())
            tied = [v for v, n in counter.items() if n == top]
            decided[sample] = json.loads(min(tied, key=lambda v: first_seen[(sample, v)]))
        return decided

    def disagreements(self) -> dict[str, dict[str, Any]]:
        """Samples whose annotators' latest labels differ: ``{sample: {annotator: value}}``."""
        latest: dict[str, dict[str, Any]] = {}
        for (sample, annotator), row in _latest(self.labels()).items():
            latest.setdefault(sample, {})[annotator] = json.loads(row["value"])
        return {
            s: by
            for s, by in latest.items()
            if len({json.dumps(v, sort_keys=True) for v in by.values()}) > 1
        }

    # --- batches -----------------------------------------------------------------------

    def next_batch_id(self) -> int:
        return int(self.db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM batches").fetchone()[0])

    def add_batch(
        self,
        db: sqlite3.Connection,
        batch_id: int,
        strategy: str,
        round_index: int | None,
        items: Sequence[tuple[str, float | None, Any]],
    ) -> None:
        """A proposed batch: ``items`` are (sample, score, guess), most wanted first."""
        db.execute(
            "INSERT INTO batches (id, strategy, round, created) VALUES (?, ?, ?, ?)",
            (batch_id, strategy, round_index, now()),
        )
        db.executemany(
            "INSERT INTO batch_items VALUES (?, ?, ?, ?, ?)",
            [
                (batch_id, sample, rank, score, None if guess is None else json.dumps(guess))
                for rank, (sample, score, guess) in enumerate(items, start=1)
            ],
        )

    def batches(self) -> list[sqlite3.Row]:
        """Every batch with its size, how many of its samples have a label, and how many
        more were skipped as "cannot be labeled" in it (``size - labeled - skipped`` are
        still to do)."""
        return self.db.execute(
            "SELECT b.*, COUNT(DISTINCT i.sample) AS size, "
            "COUNT(DISTINCT CASE WHEN l.sample IS NOT NULL THEN i.sample END) AS labeled, "
            "COUNT(DISTINCT CASE WHEN l.sample IS NULL AND k.sample IS NOT NULL "
            "THEN i.sample END) AS skipped "
            "FROM batches b JOIN batch_items i ON i.batch = b.id "
            "LEFT JOIN labels l ON l.sample = i.sample "
            "LEFT JOIN skips k ON k.batch = b.id AND k.sample = i.sample "
            "GROUP BY b.id ORDER BY b.id"
        ).fetchall()

    def batch_items(self, batch_id: int | None = None) -> list[sqlite3.Row]:
        """Items of one batch (or all), in batch then rank order."""
        query = "SELECT * FROM batch_items"
        args: tuple = ()
        if batch_id is not None:
            query += " WHERE batch = ?"
            args = (batch_id,)
        return self.db.execute(query + " ORDER BY batch, rank", args).fetchall()

    def batch_of(self) -> dict[str, int]:
        """The latest batch each proposed sample belongs to."""
        return {row["sample"]: row["batch"] for row in self.batch_items()}

    def close_finished_batches(self, db: sqlite3.Connection) -> None:
        db.execute(
            "UPDATE batches SET status = 'done' WHERE status = 'open' AND NOT EXISTS ("
            "SELECT 1 FROM batch_items i WHERE i.batch = batches.id AND NOT EXISTS ("
            "SELECT 1 FROM labels l WHERE l.sample = i.sample) AND NOT EXISTS ("
            "SELECT 1 FROM skips k WHERE k.batch = i.batch AND k.sample = i.sample))"
        )

    # --- model rounds --------------------------------------------------------------------

    def model_rounds(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM rounds ORDER BY round").fetchall()

    def round_record(self, round_index: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM rounds WHERE round = ?", (round_index,)).fetchone()

    def save_round(
        self,
        round_index: int,
        labeled: int,
        digest: str,
        weights: str,
        metrics: dict[str, float] | None,
        train_seconds: float,
        training: dict[str, Any] | None = None,
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO rounds VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    round_index,
                    labeled,
                    digest,
                    weights,
                    None if metrics is None else json.dumps(metrics),
                    train_seconds,
                    now(),
                    None if training is None else json.dumps(training),
                ),
            )
