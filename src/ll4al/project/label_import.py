"""``ll4al import``: read a label file, check every record, store the labels."""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ll4al.project.accept import accept_labels, label_problem
from ll4al.project.csvlabels import read_label_csv
from ll4al.project.formats import LabelFileError, LabelRecord, show
from ll4al.project.labelstudio import read_export
from ll4al.project.project import Project, ProjectError
from ll4al.project.store import NewLabel, Sample

Log = Callable[[str], None]


def read_label_file(path: Path, task: str, classes: list[str]) -> list[LabelRecord]:
    """Records from a CSV, a Label Studio JSON export, or (detection) VOC XML files."""
    path = Path(path)
    if not path.exists():
        raise ProjectError(f"label file {path} not found")
    suffix = path.suffix.lower()
    if task == "detection" and (path.is_dir() or suffix == ".xml"):
        from ll4al.project.voclabels import read_voc  # reads through data.voc, with torch

        return read_voc(path, classes)
    if suffix == ".csv":
        return read_label_csv(path, task)
    if suffix == ".json":
        return read_export(path, task)
    kinds = "a .csv or a Label Studio .json" + (
        ", or VOC .xml files (a file or a folder)" if task == "detection" else ""
    )
    raise ProjectError(f"{path}: unknown kind of label file; use {kinds}")


def check_records(
    project: Project, records: list[LabelRecord], path: Path, outside_batch: bool
) -> list[tuple[Sample, NewLabel]]:
    """Every record checked against the project, in the file's order; the first problem is
    an error naming the file and the place, and nothing is written. Skips are left out."""
    return [
        (sample, _new_label(record, sample, path, project.store.batch_of()))
        for sample, record in _checked(project, records, path, outside_batch)
        if not record.cancelled
    ]


#: Label Studio stores an uploaded file as ``<8 hex digits>-<its name>``.
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")


def _unknown_image(record: LabelRecord, root: Path, path: Path | str) -> LabelFileError:
    """The error for a key that names no registered image; Label Studio's renamed uploads
    get a hint."""
    message = (
        f"{path}: {record.where}: unknown image {show(record.key)} (not registered under {root})"
    )
    uploaded = _UPLOAD_PREFIX.match(Path(record.key).name)
    if uploaded:
        message += (
            f"; Label Studio renamed an uploaded {uploaded.group(1)!r}: import the tasks ll4al"
            " writes (ll4al labelstudio, or batches/batch-NNN-labelstudio.json) instead of"
            " uploading images"
        )
    return LabelFileError(message)


def _checked(
    project: Project, records: list[LabelRecord], path: Path | str, outside_batch: bool
) -> list[tuple[Sample, LabelRecord]]:
    """Each record with its sample (its key made the sample's id), skips included. One
    annotator giving one image two different labels in one file is a problem: which one was
    meant?"""
    samples = {s.id: s for s in project.pool_samples()}
    batch_of = project.store.batch_of()
    project_id = project.store.project_id()
    root = project.images_root
    names = Counter(Path(i).name for i in samples)
    by_name = {Path(i).name: i for i in samples if names[Path(i).name] == 1}  # unique names
    given: dict[tuple[str, str], LabelRecord] = {}
    checked = []
    for record in records:
        if record.project is not None and record.project != project_id:
            raise LabelFileError(
                f"{path}: {record.where}: a task of another ll4al project ({record.project}; "
                f"this one is {project_id}): import the labels of this project's tasks"
            )
        key = _sample_key(record, samples, by_name, root, path)
        sample = samples[key]
        if record.checksum is not None and record.checksum != sample.checksum:
            raise LabelFileError(
                f"{path}: {record.where}: image {key!r} changed since its task was written "
                "(its checksum differs): label the image as it is now"
            )
        if record.cancelled:
            checked.append((sample, replace(record, key=key)))
            continue
        problem = label_problem(project.labels, sample, record.value)
        if problem:
            raise LabelFileError(f"{path}: {record.where}: {problem}")
        earlier = given.setdefault((key, record.annotator), record)
        if earlier.value != record.value:
            who = f"annotator {record.annotator!r}" if record.annotator else "the same annotator"
            raise LabelFileError(
                f"{path}: {record.where}: {key!r} is labeled {show(record.value)}, but "
                f"{earlier.where} gives it {show(earlier.value)} ({who}); keep one of the two"
            )
        if key not in batch_of and not outside_batch:
            raise LabelFileError(
                f"{path}: {record.where}: {key!r} is in no batch ll4al proposed; pass "
                "--outside-batch to import it anyway"
            )
        checked.append((sample, replace(record, key=key)))
    return checked


def _new_label(
    record: LabelRecord, sample: Sample, path: Path | str, batch_of: dict[str, int]
) -> NewLabel:
    return NewLabel(
        sample.id,
        record.value,
        record.annotator,
        record.seconds,
        Path(path).name,
        batch_of.get(sample.id),
    )


def parse_annotators(text: str | None) -> dict[str, str]:
    """``--annotators 1=ann@lab.org,2=Bo``: Label Studio user ids to the names ll4al keeps."""
    mapping: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        user, sep, name = part.partition("=")
        if not sep or not user.strip() or not name.strip():
            raise ProjectError(f"--annotators: {part.strip()!r} is not ID=NAME")
        mapping[user.strip()] = name.strip()
    return mapping


@dataclass(frozen=True)
class Stored:
    """What ``store_records`` did: labels new and already stored, skips new."""

    added: int
    known: int
    skipped: int


def store_records(
    project: Project,
    records: list[LabelRecord],
    source: Path | str,
    outside_batch: bool = False,
    annotators: dict[str, str] | None = None,
) -> Stored:
    """Check every record, then store labels and skips in one transaction: the one step by
    which a label file and the ML backend's webhook write. A skip ("cannot be labeled")
    closes its image for the batch it is in. An annotation seen before (same ``ref``, an
    edit) counts only the seconds its earlier versions did not; ``annotators`` renames
    Label Studio user ids."""
    if annotators:
        records = [replace(r, annotator=annotators.get(r.annotator, r.annotator)) for r in records]
    checked = _checked(project, records, source, outside_batch)
    store = project.store
    batch_of = store.batch_of()
    labels, skips = [], []
    for sample, record in checked:
        seconds = record.seconds
        if record.ref is not None and seconds is not None:
            seconds = max(0.0, seconds - store.counted_seconds(record.ref))
            record = replace(record, seconds=seconds)
        if record.cancelled:
            skips.append((sample, record))
        else:
            labels.append((sample, record))
    with store.transaction() as db:
        new = [(s, _new_label(r, s, source, batch_of)) for s, r in labels]
        ids = accept_labels(store, db, project.labels, new)
        skipped = 0
        for sample, record in skips:
            batch = batch_of.get(sample.id)
            if batch is not None and store.add_skip(
                db, batch, sample.id, record.annotator, record.seconds, Path(source).name
            ):
                skipped += 1
                _count(store, db, record)
        for (_, record), row in zip(labels, ids, strict=True):
            if row is not None:
                _count(store, db, record)
        store.close_finished_batches(db)
    added = sum(i is not None for i in ids)
    return Stored(added, len(labels) - added, skipped)


def _count(store, db, record: LabelRecord) -> None:
    if record.ref is not None and record.seconds:
        store.count_seconds(db, record.ref, record.seconds)


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _sample_key(
    record: LabelRecord,
    samples: dict[str, Sample],
    by_name: dict[str, str],
    root: Path,
    path: Path | str,
) -> str:
    """The registered sample a file's key names: its path relative to the image root (as
    written, then stripped of spaces, ``\\`` read as ``/``), an absolute path under the root,
    or a bare file name that only one registered image has. A URL, or a path outside the
    root, names no image here, whatever its file name."""
    key = record.key
    for candidate in (key, key.strip()):
        if candidate in samples:
            return candidate
    text = key.strip().replace("\\", "/")
    where = f"{path}: {record.where}: {show(record.key)}"
    if _URL.match(text):
        raise LabelFileError(
            f"{where} is a URL, not an image under {root}; give its path relative to {root}"
        )
    if Path(text).is_absolute():
        try:
            relative = Path(posixpath.normpath(text)).relative_to(root).as_posix()
        except ValueError:
            raise LabelFileError(
                f"{where} is outside the image root {root}; give the path relative to it"
            ) from None
    else:
        depth = 0
        for part in text.split("/"):
            depth += -1 if part == ".." else part not in ("", ".")
            if depth < 0:
                raise LabelFileError(f"{where} leads out of the image root {root}")
        relative = posixpath.normpath(text)
    if relative in samples:
        return relative
    if "/" not in relative and relative in by_name:
        return by_name[relative]
    raise _unknown_image(record, root, path)


def import_labels(
    project: Project,
    path: Path,
    outside_batch: bool = False,
    log: Log = print,
    annotators: dict[str, str] | None = None,
) -> int:
    """Import a CSV, a Label Studio export or VOC files; returns how many labels were new."""
    records = read_label_file(path, project.settings.task, project.settings.classes)
    stored = store_records(project, records, path, outside_batch, annotators)
    cancelled = sum(r.cancelled for r in records)
    log(
        f"{path}: {stored.added} new labels, {stored.known} already imported"
        + (f", {cancelled} skipped as cannot be labeled" if cancelled else "")
    )
    return stored.added
