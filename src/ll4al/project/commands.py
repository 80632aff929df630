"""What ``ll4al init``, ``query``, ``import``, ``status`` and ``export`` do to a project.

``query`` and ``import`` are the session's steps with a person in between: ``query`` fits a
model on the labels so far and proposes a batch (``Session.fit``, ``evaluate``, ``propose``),
``import`` stores the labels that come back through ``ll4al.project.accept.accept_labels``,
the one way a label enters a project (the labeling page uses it too); the next ``query``
rebuilds the pool from the stored labels. Each command checks everything first and writes in
one transaction, so a bad file or a kill leaves the project as it was.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ll4al.al.checks import check_runtime, check_strategies, check_training
from ll4al.al.session import Batch, Session
from ll4al.al.training import NonFiniteLossError
from ll4al.config import ConfigError, apply_overrides, build_settings
from ll4al.data.imagefolder import image_channels, image_size_of, list_images
from ll4al.distributed import world
from ll4al.files import atomic_path, write_json_atomic, write_text_atomic
from ll4al.project.accept import accept_labels, label_problem
from ll4al.project.csvlabels import read_label_csv, write_batch_csv
from ll4al.project.formats import LabelFileError, LabelRecord
from ll4al.project.labelstudio import annotated_export, labeling_config, read_export, tasks_json
from ll4al.project.project import Project, ProjectError, file_checksum
from ll4al.project.settings import SETTINGS_FILE, TASKS, ProjectSettings
from ll4al.project.store import NewLabel, Sample, Store
from ll4al.project.voclabels import read_voc
from ll4al.tasks import LABEL_KINDS

Log = Callable[[str], None]

#: Settings a new project starts from, per task: sized for a CPU (the paper's 200 epochs are
#: a GPU's budget); ``--set`` changes any of them.
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "classification": {
        "image_size": 32,
        "model": {"name": "cifar-resnet18", "width": 0.25},
        "train": {"epochs": 30, "milestones": [24], "stop_gradient_epoch": 0},
    },
    "detection": {
        "image_size": 320,
        "strategy": "learning-loss",
        "model": {"name": "ssdlite320", "width": 0.25},
        "train": {
            "epochs": 30,
            "lr": 0.05,
            "milestones": [24],
            "stop_gradient_epoch": 0,
            "augment": "flip",
        },
    },
}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def init_project(
    folder: Path,
    images: Path,
    task: str,
    classes: list[str],
    options: dict[str, Any],
    overrides: list[str],
    labels_file: Path | None = None,
    progress: bool = True,
    log: Log = print,
) -> Project:
    """Register every image under ``images`` in a new project at ``folder``."""
    folder, images = Path(folder), Path(images).resolve()
    if (folder / SETTINGS_FILE).exists():
        raise ProjectError(f"{folder} is already a project; use another folder")
    if folder.exists() and not folder.is_dir():
        raise ProjectError(f"{folder} exists and is not a folder")
    if task not in TASKS:
        raise ProjectError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    if len(classes) < 2 or len(set(classes)) != len(classes) or not all(classes):
        raise ProjectError(f"--classes needs at least two distinct names, got {classes}")
    if not images.is_dir():
        raise ProjectError(f"image folder {images} not found")
    paths = list_images(images)
    if not paths:
        raise ProjectError(f"no images (jpg, png, bmp, tiff) found under {images}")
    values = _merge(TASK_DEFAULTS[task], {k: v for k, v in options.items() if v is not None})
    values.update(task=task, classes=classes, images=str(images), name=folder.name)
    if values.get("evaluation"):
        values["evaluation"] = str(Path(values["evaluation"]).resolve())
    values = apply_overrides(values, overrides)
    if "channels" not in values:
        values["channels"] = image_channels(images, paths)
    settings = build_settings(ProjectSettings, values, "")
    check_settings(settings)

    samples = _register(images, paths, 0, progress)
    known = _read_label_file(labels_file, task, classes) if labels_file else []

    folder.mkdir(parents=True, exist_ok=True)
    store = Store(folder)
    project = Project(folder, settings, store)
    with store.transaction() as db:  # the labels are checked against the samples just added
        store.add_samples(db, samples)
        new = _check_records(project, known, labels_file, outside_batch=True)
        accept_labels(store, db, project.labels, new)
    settings.save(folder)  # last: a folder without project.yaml is not a project yet
    write_text_atomic(folder / "labelstudio-config.xml", labeling_config(task, classes) + "\n")
    log(f"{folder}: {len(samples)} images, {len(classes)} classes, {len(new)} labels known")
    return project


def _register(root: Path, paths: list[str], first_index: int, progress: bool) -> list[Sample]:
    """Samples for ``paths`` (checksum and size read from each file), numbered from
    ``first_index``; an unreadable image is an error naming it."""
    bar = tqdm(paths, desc="registering images", unit="img", disable=not progress)
    samples = []
    for index, rel in enumerate(bar, start=first_index):
        width, height = image_size_of(root / rel)
        samples.append(Sample(rel, index, "pool", file_checksum(root / rel), width, height))
    return samples


def add_images(project: Project, progress: bool = True, log: Log = print) -> int:
    """Register the images added to the project's image folder since ``init`` (after the
    pool's last row, so every earlier batch, label and round keeps its meaning); returns how
    many. Images removed from the folder stay registered and are reported."""
    root = project.images_root
    registered = project.pool_samples()
    known = {s.id for s in registered}
    found = list_images(root)
    new = [p for p in found if p not in known]
    missing = sorted(known - set(found))
    samples = _register(root, new, len(registered), progress)
    with project.store.transaction() as db:
        project.store.add_samples(db, samples)
    gone = f"; {len(missing)} registered images are missing from {root}" if missing else ""
    log(f"{len(new)} new images registered, {len(registered) + len(new)} in the pool{gone}")
    return len(new)


def check_settings(settings: ProjectSettings) -> None:
    labels = LABEL_KINDS[settings.task](settings.classes)
    task = labels.task()
    check_strategies([settings.strategy], task, f"a {settings.task} project")
    check_training(settings.model, settings.train, task)
    check_runtime(settings.device, settings.precision)
    if settings.channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {settings.channels!r}")
    if not isinstance(settings.image_size, int) or settings.image_size < 8:
        raise ConfigError(f"image_size must be an integer >= 8, got {settings.image_size!r}")
    if settings.active.initial < 2 or settings.active.subset < 1:
        raise ConfigError("active.initial must be >= 2 and active.subset >= 1")


# --- query -------------------------------------------------------------------------------


def query(
    project: Project,
    k: int,
    strategy: str | None = None,
    progress: bool = True,
    log: Log = print,
) -> Path:
    """Propose the next ``k`` images to label; returns the batch's CSV file."""
    settings = project.settings
    strategy = strategy or settings.strategy
    if k < 1:
        raise ProjectError(f"--k must be at least 1, got {k}")
    pending = [b for b in project.store.batches() if b["labeled"] < b["size"]]
    if pending:
        b = pending[0]
        raise ProjectError(
            f"batch {b['id']} still has {b['size'] - b['labeled']} of {b['size']} images "
            f"without a label; import them first (ll4al import {project.folder} FILE)"
        )
    pool_data = project.pool_data(progress)
    pool = project.training_pool()
    session = project.session(pool_data, strategy, progress)
    unlabeled = len(pool.unlabeled)
    if not unlabeled:
        raise ProjectError("every image has a label: nothing left to propose")
    k = min(k, unlabeled)
    if len(pool.labeled) < settings.active.initial:
        batch = session.initial_batch(pool, k)
        log(f"{len(pool.labeled)} labels < initial {settings.active.initial}: a random draw")
    else:
        round_index = sum(1 for b in project.store.batches() if b["round"] is not None)
        learner = _learner_for_round(project, session, pool, round_index, log)
        batch = session.propose(learner, pool, round_index, k, settings.active.subset)
        session.describe(learner, batch)
    if not world().is_main:  # under torchrun the ranks scored; rank 0 writes
        return project.folder / "batches"
    return _write_batch(project, batch)


def _learner_for_round(project: Project, session: Session, pool, round_index: int, log: Log):
    """The round's model: loaded if these labels already trained it, else trained and saved
    (so a query killed after training, or asked again, does not train again)."""
    with_lpm = session.strategy.needs_loss_prediction
    digest = project.labels_digest(pool, with_lpm)
    path = project.weights_path(round_index, with_lpm)
    saved = project.store.round_record(round_index)
    if saved is not None and saved["labels_digest"] == digest and path.is_file():
        learner = session.new_learner(round_index)
        learner.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        log(f"round {round_index}: model loaded from {path}")
        return learner
    started = time.perf_counter()
    try:
        learner = session.fit(pool, round_index, f"round {round_index} n={len(pool.labeled)}")
    except NonFiniteLossError as err:
        raise ProjectError(f"training round {round_index} stopped: {err}; lower train.lr") from err
    seconds = time.perf_counter() - started
    metrics = None
    evaluation = project.evaluation_data(session.pool_data)
    if evaluation is not None:
        metrics = session.evaluate(learner, *evaluation)
    if world().is_main:
        with atomic_path(path) as tmp:
            torch.save(learner.model.state_dict(), tmp)
        project.store.save_round(
            round_index, len(pool.labeled), digest, path.name, metrics, seconds
        )
    shown = (
        ""
        if metrics is None
        else f", {project.task.metric_name} {metrics[project.task.metric_name]:.4f}"
    )
    log(f"round {round_index}: trained on {len(pool.labeled)} labels in {seconds:.1f}s{shown}")
    return learner


def _write_batch(project: Project, batch: Batch) -> Path:
    """The batch's files first (atomically), then its rows in one transaction: a kill in
    between leaves no batch in the database, and the same query writes the same files again."""
    store, settings = project.store, project.settings
    samples = project.pool_samples()
    batch_id = store.next_batch_id()
    rows = []
    for rank, index in enumerate(batch.indices.tolist()):
        sample = samples[index]
        score = None if batch.scores is None else float(batch.scores[rank])
        guess = None
        if batch.guesses is not None:
            guess = project.labels.from_guess(
                batch.guesses[rank], sample.width, sample.height, settings.image_size
            )
        rows.append(
            {
                "rank": rank + 1,
                "id": sample.id,
                "path": sample.id,
                "score": score,
                "guess": guess,
                "width": sample.width,
                "height": sample.height,
            }
        )
    folder = project.folder / "batches"
    csv_path = folder / f"batch-{batch_id:03d}.csv"
    write_batch_csv(csv_path, rows)
    version = "random" if batch.round is None else f"round-{batch.round}-{batch.strategy}"
    write_json_atomic(
        folder / f"batch-{batch_id:03d}-labelstudio.json",
        tasks_json(rows, settings.task, version),
    )
    with store.transaction() as db:
        store.add_batch(
            db,
            batch_id,
            batch.strategy,
            batch.round,
            [(r["id"], r["score"], r["guess"]) for r in rows],
        )
    return csv_path


# --- import -------------------------------------------------------------------------------


def _read_label_file(path: Path, task: str, classes: list[str]) -> list[LabelRecord]:
    """Records from a CSV, a Label Studio JSON export, or (detection) VOC XML files."""
    path = Path(path)
    if not path.exists():
        raise ProjectError(f"label file {path} not found")
    suffix = path.suffix.lower()
    if task == "detection" and (path.is_dir() or suffix == ".xml"):
        return read_voc(path, classes)
    if suffix == ".csv":
        return read_label_csv(path, task)
    if suffix == ".json":
        return read_export(path, task)
    kinds = "a .csv or a Label Studio .json" + (
        ", or VOC .xml files (a file or a folder)" if task == "detection" else ""
    )
    raise ProjectError(f"{path}: unknown kind of label file; use {kinds}")


def _check_records(
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
    records = _read_label_file(path, project.settings.task, project.settings.classes)
    new = _check_records(project, records, path, outside_batch)
    store = project.store
    with store.transaction() as db:
        added = sum(i is not None for i in accept_labels(store, db, project.labels, new))
    skipped = sum(r.cancelled for r in records)
    log(
        f"{path}: {added} new labels, {len(new) - added} already imported"
        + (f", {skipped} skipped (cancelled)" if skipped else "")
    )
    return added


# --- status -------------------------------------------------------------------------------


def status(project: Project) -> dict[str, Any]:
    """Labels per class, batches and their progress, time and money spent, disagreements,
    the last round's metric: what ``ll4al status`` prints."""
    store, settings = project.store, project.settings
    labels = store.labels()
    decided = store.decided_labels()
    per_class: Counter = Counter()
    for value in decided.values():
        names = value["labels"] if isinstance(value, dict) else [value]
        per_class.update(names)
    recorded = [row["seconds"] for row in labels if row["seconds"] is not None]
    unrecorded = len(labels) - len(recorded)
    cost = settings.cost
    seconds = sum(recorded) + unrecorded * cost.minutes * 60
    rounds = store.model_rounds()
    last = rounds[-1] if rounds else None
    return {
        "images": len(project.pool_samples()),
        "labeled": len(decided),
        "labels": len(labels),
        "per_class": {name: per_class.get(name, 0) for name in settings.classes},
        "batches": [dict(b) for b in store.batches()],
        "hours": seconds / 3600,
        "hours_measured": sum(recorded) / 3600,
        "labels_timed": len(recorded),
        "money": len(labels) * cost.money,
        "currency": cost.currency,
        "disagreements": store.disagreements(),
        "last_round": None
        if last is None
        else {
            "round": last["round"],
            "labeled": last["labeled"],
            "metrics": json.loads(last["metrics"]) if last["metrics"] else None,
        },
    }


def format_status(project: Project, info: dict[str, Any]) -> str:
    lines = [
        f"{project.folder}: {info['labeled']} of {info['images']} images labeled "
        f"({info['labels']} labels given)",
        "labels per class: " + ", ".join(f"{k} {v}" for k, v in info["per_class"].items()),
    ]
    for b in info["batches"]:
        source = "random draw" if b["round"] is None else f"round {b['round']}, {b['strategy']}"
        lines.append(
            f"batch {b['id']:>3} ({source}, {b['created']}): {b['labeled']}/{b['size']} "
            f"labeled, {b['status']}"
        )
    money = f", {info['money']:.2f} {info['currency']}".rstrip() if info["money"] else ""
    lines.append(
        f"annotation time: {info['hours']:.2f} h ({info['labels_timed']} labels timed, "
        f"{info['hours_measured']:.2f} h measured; the rest at the configured rate){money}"
    )
    disagreements = info["disagreements"]
    if disagreements:
        shown = "; ".join(
            f"{s}: " + ", ".join(f"{a or '?'}={v}" for a, v in by.items())
            for s, by in list(disagreements.items())[:5]
        )
        lines.append(f"annotators disagree on {len(disagreements)} images: {shown}")
    last = info["last_round"]
    if last is not None and last["metrics"]:
        metric = project.task.metric_name
        lines.append(
            f"last model (round {last['round']}, {last['labeled']} labels): {metric} "
            f"{last['metrics'][metric]:.4f} on the evaluation set"
        )
    return "\n".join(lines)


# --- export -------------------------------------------------------------------------------

EXPORT_FORMATS = ("imagefolder", "csv", "labelstudio", "voc")


def export(project: Project, fmt: str, out: Path, log: Log = print) -> Path:
    """The labeled data set (decided labels) in a form other tools read."""
    settings = project.settings
    if fmt not in EXPORT_FORMATS:
        raise ProjectError(f"unknown format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    if fmt == "imagefolder" and settings.task != "classification":
        raise ProjectError("--format imagefolder is for classification; use voc or labelstudio")
    if fmt == "voc" and settings.task != "detection":
        raise ProjectError("--format voc is for detection; use imagefolder, csv or labelstudio")
    samples = {s.id: s for s in project.pool_samples()}
    decided = project.store.decided_labels()
    out = Path(out)
    if fmt == "csv":
        with atomic_path(out) as tmp, tmp.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(["path", "label"])
            for sample_id, value in decided.items():
                writer.writerow(
                    [sample_id, json.dumps(value) if isinstance(value, dict) else value]
                )
    elif fmt == "labelstudio":
        records = [
            {
                "id": row["sample"],
                "path": row["sample"],
                "value": json.loads(row["value"]),
                "annotator": row["annotator"],
                "seconds": row["seconds"],
                "width": samples[row["sample"]].width,
                "height": samples[row["sample"]].height,
            }
            for row in project.store.labels()
        ]
        write_json_atomic(out, annotated_export(records, settings.task))
    elif fmt == "imagefolder":
        for sample_id, value in decided.items():
            target = out / value / sample_id.replace("/", "__")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(project.images_root / sample_id, target)
    else:
        from ll4al.data.voc import write_annotation

        for sample_id, value in decided.items():
            s = samples[sample_id]
            write_annotation(
                out / "Annotations" / (Path(sample_id).stem + ".xml"),
                sample_id,
                s.width,
                s.height,
                value,
            )
    log(f"{len(decided)} labeled images exported as {fmt} to {out}")
    return out
