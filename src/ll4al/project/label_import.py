"""``ll4al import``: read a label file, check every record, store the labels."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ll4al.project.accept import accept_labels, label_problem
from ll4al.project.csvlabels import read_label_csv
from ll4al.project.formats import LabelFileError, LabelRecord
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
    an error naming the file and the place, and nothing is written."""
    samples = {s.id: s for s in project.pool_samples()}
    batch_of = project.store.batch_of()
    root = project.images_root
    names = Counter(Path(i).name for i in samples)
    by_name = {Path(i).name: i for i in samples if names[Path(i).name] == 1}  # unique names
    new = []
    for record in records:
        if record.cancelled:
            continue
        key = record.key
        if key not in samples and Path(key).is_absolute() and Path(key).is_relative_to(root):
            key = Path(key).relative_to(root).as_posix()
        if key not in samples and by_name.get(Path(key).name):
            key = by_name[Path(key).name]
        sample = samples.get(key)
        if sample is None:
            raise LabelFileError(
                f"{path}: {record.where}: unknown image {record.key!r} "
                f"(not registered under {root})"
            )
        problem = label_problem(project.labels, sample, record.value)
        if problem:
            raise LabelFileError(f"{path}: {record.where}: {problem}")
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
