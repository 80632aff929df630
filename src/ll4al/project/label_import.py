"""``ll4al import``: read a label file, check every record, store the labels."""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from collections.abc import Callable
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
    an error naming the file and the place, and nothing is written. One annotator giving
    one image two different labels in one file is such a problem: which one was meant?"""
    samples = {s.id: s for s in project.pool_samples()}
    batch_of = project.store.batch_of()
    root = project.images_root
    names = Counter(Path(i).name for i in samples)
    by_name = {Path(i).name: i for i in samples if names[Path(i).name] == 1}  # unique names
    given: dict[tuple[str, str], LabelRecord] = {}
    new = []
    for record in records:
        if record.cancelled:
            continue
        key = _sample_key(record, samples, by_name, root, path)
        sample = samples[key]
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
        label = NewLabel(
            key, record.value, record.annotator, record.seconds, Path(path).name, batch_of.get(key)
        )
        new.append((sample, label))
    return new


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _sample_key(
    record: LabelRecord, samples: dict[str, Sample], by_name: dict[str, str], root: Path, path: Path
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
    raise LabelFileError(
        f"{path}: {record.where}: unknown image {show(record.key)} (not registered under {root})"
    )


def import_labels(
    project: Project, path: Path, outside_batch: bool = False, log: Log = print
) -> int:
    """Import a CSV or a Label Studio export; returns how many labels were new."""
    records = read_label_file(path, project.settings.task, project.settings.classes)
    new = check_records(project, records, path, outside_batch)
    store = project.store
    with store.transaction() as db:
        added = sum(i is not None for i in accept_labels(store, db, project.labels, new))
    skipped = sum(r.cancelled for r in records)
    log(
        f"{path}: {added} new labels, {len(new) - added} already imported"
        + (f", {skipped} skipped (cancelled)" if skipped else "")
    )
    return added
