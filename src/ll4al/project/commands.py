"""``ll4al init`` and ``add``: create a project on a folder of images, register new images.

The other commands have a module each: ``query``, ``label_import``, ``status``, ``export``.
``query`` and ``import`` are the session's steps with a person in between: ``query`` fits a
model on the labels so far and proposes a batch (``Session.fit``, ``evaluate``, ``propose``),
``import`` stores the labels that come back through ``ll4al.project.accept.accept_labels``,
the one way a label enters a project (the labeling page uses it too); the next ``query``
rebuilds the pool from the stored labels. Each command checks everything first and writes in
one transaction, so a bad file or a kill leaves the project as it was.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ll4al.al.checks import check_runtime, check_strategies, check_training
from ll4al.al.fit_rule import AUTO_KEYS
from ll4al.al.spread import SPREADS
from ll4al.config import FIRST_BATCH_RULES, ConfigError, apply_overrides, build_settings
from ll4al.data.dicom import dicom_groups, folder_patients, split_frame
from ll4al.data.imagefolder import class_folders, image_channels, image_size_of, list_images
from ll4al.data.intensity import check_mapping
from ll4al.files import file_checksum, write_text_atomic
from ll4al.project.accept import accept_labels
from ll4al.project.integrity import Stat, check_images, file_stat, named
from ll4al.project.label_import import check_records, read_label_file
from ll4al.project.labelstudio import labeling_config
from ll4al.project.project import Project, ProjectError
from ll4al.project.settings import (
    DETECTION_STRATEGY,
    SETTINGS_FILE,
    TASKS,
    ProjectSettings,
    class_name_problem,
    resolve_strategy,
    validate,
)
from ll4al.project.store import DATABASE_FILE, Sample, Store
from ll4al.project.training import unpinned
from ll4al.tasks import LABEL_KINDS

Log = Callable[[str], None]

#: Settings a new project starts from, per task: sized for a CPU (the paper's 200 epochs are
#: a GPU's budget); ``--set`` changes any of them.
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "classification": {
        "image_size": 32,
        "model": {"name": "cifar-resnet18", "width": 0.25, "mode": "auto"},
        "train": {"epochs": 30, "milestones": [24], "stop_gradient_epoch": 0},
        "train_auto": list(AUTO_KEYS),
    },
    "detection": {
        "image_size": 320,
        "strategy": DETECTION_STRATEGY,
        "model": {"name": "ssdlite320", "width": 0.25},
        "train": {
            "epochs": 30,
            "lr": 0.05,
            "milestones": [24],
            "stop_gradient_epoch": 0,
            "augment": "flip",
        },
        "train_auto": list(AUTO_KEYS),
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
    for name in classes:
        if class_name_problem(name):
            raise ProjectError(f"--classes: {class_name_problem(name)}")
    if not images.is_dir():
        raise ProjectError(f"image folder {images} not found")
    paths = _inside(images, list_images(images), log)
    if not paths:
        raise ProjectError(f"no images (jpg, png, bmp, tiff, dcm) found under {images}")
    values = _merge(  # a copy: --set must not change the defaults of the next init
        copy.deepcopy(TASK_DEFAULTS.get(task, {})),
        {k: v for k, v in options.items() if v is not None},
    )
    values.update(task=task, classes=classes, images=str(images), name=folder.name)
    if values.get("evaluation"):
        values["evaluation"] = str(Path(values["evaluation"]).resolve())
        _check_evaluation(Path(values["evaluation"]), classes)
    values = apply_overrides(values, overrides)
    values["train_auto"] = unpinned(values["train_auto"], options, overrides)
    if "channels" not in values:
        values["channels"] = image_channels(images, paths)
    settings = build_settings(ProjectSettings, values, "")
    check_settings(settings)

    samples, stats = _register(images, paths, 0, progress)
    groups = dicom_groups(images, paths)
    if settings.evaluation:
        _warn_shared_patients(groups, Path(settings.evaluation), log)
    known = read_label_file(labels_file, task, classes) if labels_file else []

    made = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(folder, create=True)
    project = Project(folder, settings, store)
    try:
        with store.transaction() as db:  # labels are checked against the samples just added
            store.add_samples(db, samples)
            store.record_file_stats(db, stats)
            store.add_groups(db, groups)
            new = check_records(project, known, labels_file, outside_batch=True)
            accept_labels(store, db, project.labels, new)
    except BaseException:  # a refused --labels file: no half-made project left behind
        store.close()
        for suffix in ("", "-wal", "-shm"):
            (folder / (DATABASE_FILE + suffix)).unlink(missing_ok=True)
        for created in made:  # innermost first
            created.rmdir()
        raise
    (folder / ".lock").touch()  # here from the start: a refused command leaves no new file
    settings.save(folder)  # last: a folder without project.yaml is not a project yet
    write_text_atomic(folder / "labelstudio-config.xml", labeling_config(task, classes) + "\n")
    log(f"{folder}: {len(samples)} images, {len(classes)} classes, {len(new)} labels known")
    return project


def _check_evaluation(root: Path, classes: list[str]) -> None:
    """The --eval folder exists, in the ``<class>/<image>`` layout, with the project's
    classes only: a round evaluated on nothing, or failing after training, is found now."""
    if not root.is_dir():
        raise ProjectError(f"--eval folder {root} not found")
    try:
        _, names = class_folders(root)
    except FileNotFoundError as err:
        raise ProjectError(f"--eval: {err}") from None
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise ProjectError(
            f"--eval folder {root} has classes {unknown} that --classes lacks; the folder "
            "must be <class>/<image> with the project's class names"
        )


def _inside(root: Path, paths: list[str], log: Log) -> list[str]:
    """``paths`` whose files are under ``root`` once symbolic links are followed; the others
    (a link to a file elsewhere, which the labeling page would serve) are left out, and said."""
    real = root.resolve()
    outside = [p for p in paths if not (root / split_frame(p)[0]).resolve().is_relative_to(real)]
    if outside:
        log(
            f"warning: {len(outside)} images under {root} are symbolic links to files outside "
            f"it ({named(outside)}); not registered: copy them into the folder to label them"
        )
    left_out = set(outside)
    return [p for p in paths if p not in left_out]


def _warn_shared_patients(groups: list[tuple], evaluation: Path, log: Log) -> None:
    """A patient in both the pool and the evaluation set makes the evaluation optimistic:
    say how many (never which: PatientIDs are not shown)."""
    shared = {row[1] for row in groups} & folder_patients(evaluation)
    if shared:
        log(
            f"warning: {len(shared)} patients (PatientID) have images both in the pool and "
            f"in the evaluation folder {evaluation}; its metrics will be optimistic: keep "
            "each patient's images on one side"
        )


def _register(
    root: Path, paths: list[str], first_index: int, progress: bool
) -> tuple[list[Sample], list[tuple[str, Stat]]]:
    """Samples for ``paths`` (checksum and size read from each file), numbered from
    ``first_index``, and each file's stat (``ll4al.project.integrity``); an unreadable image
    is an error naming it."""
    bar = tqdm(paths, desc="registering images", unit="img", disable=not progress)
    samples, stats = [], {}
    for index, rel in enumerate(bar, start=first_index):
        width, height = image_size_of(root / rel)
        file = split_frame(rel)[0]
        if file not in stats:
            stats[file] = file_stat(root / file)  # before the checksum: a later change shows
        checksum = file_checksum(root / file)
        samples.append(Sample(rel, index, checksum, width, height))
    return samples, list(stats.items())


def add_images(
    project: Project, progress: bool = True, log: Log = print, accept_changed: bool = False
) -> int:
    """Register the images added to the project's image folder since ``init`` (after the
    pool's last row, so every earlier batch, label and round keeps its meaning); returns how
    many. Images removed from the folder stay registered and are reported; images replaced
    since registration are reported, and with ``accept_changed`` registered anew, their
    labels set aside (``Store.reregister``)."""
    root = project.images_root
    registered = project.pool_samples()
    known = {s.id for s in registered}
    found = list_images(root)
    new = _inside(root, [p for p in found if p not in known], log)
    check = check_images(project)
    samples, stats = _register(root, new, len(registered), progress)
    changed: list[Sample] = []
    if accept_changed:
        replaced = set(check.replaced)
        changed_ids = [s.id for s in registered if split_frame(s.id)[0] in replaced]
        changed, changed_stats = _register(root, changed_ids, 0, progress)
        stats += changed_stats
    with project.store.transaction() as db:
        project.store.add_samples(db, samples)
        project.store.add_groups(db, dicom_groups(root, new))
        project.store.record_file_stats(db, [*check.verified, *stats])
        aside = sum(project.store.reregister(db, s, s.checksum) for s in changed)
    gone = f"; {len(check.missing)} registered images are missing from {root}"
    log(
        f"{len(new)} new images registered, {len(registered) + len(new)} in the pool"
        + (gone if check.missing else "")
    )
    if changed:
        log(
            f"{len(check.replaced)} replaced images registered with their new pixels "
            f"({named(check.replaced)}); {aside} labels they had were set aside (kept in the "
            "database, table labels_aside): label them again"
        )
    elif check.replaced:
        log(
            f"warning: {len(check.replaced)} registered images were replaced "
            f"({named(check.replaced)}); query and export refuse until you put the originals "
            f"back or run `ll4al add {project.folder} --accept-changed`"
        )
    return len(new)


def check_settings(settings: ProjectSettings) -> None:
    """All of a project's settings, the model's, strategy's and device's too: at ``init``
    and before a query trains (``validate``, run on every open, has the rest)."""
    validate(settings)
    labels = LABEL_KINDS[settings.task](settings.classes).with_metric(settings.metric)
    task = labels.task()  # checks the metric against the task's choices
    for frozen in (False, True):  # ``auto``: either round's strategy
        strategy = resolve_strategy(settings.strategy, settings.task, frozen)
        check_strategies([strategy], task, f"a {settings.task} project")
    check_training(settings.model, settings.train, task)
    check_runtime(settings.device, settings.precision)
    check_mapping(settings.intensity)
    if settings.metric == "auroc" and len(settings.classes) != 2:
        raise ConfigError(f"metric auroc needs two classes, got {len(settings.classes)}")
    rules = ("auto", *FIRST_BATCH_RULES)
    if settings.active.first not in rules:
        raise ConfigError(
            f"active.first must be one of {', '.join(rules)}, got {settings.active.first!r}"
        )
    if settings.active.spread not in SPREADS:
        raise ConfigError(f"active.spread must be one of {', '.join(SPREADS)}")
