"""``ll4al query``: fit a model on the labels so far and write the next batch to label."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ll4al.al.fit_rule import training_record
from ll4al.al.session import Batch, Session
from ll4al.al.spread import CANDIDATES_PER_PLACE, spread
from ll4al.al.training import NonFiniteLossError
from ll4al.distributed import world
from ll4al.files import CorruptFileError, atomic_path, read_json, write_json_atomic
from ll4al.models.learner import PoolData
from ll4al.project.commands import check_settings
from ll4al.project.csvlabels import write_batch_csv
from ll4al.project.encoder import encoder_provenance
from ll4al.project.integrity import check_images, remember, require_unchanged
from ll4al.project.labelstudio import model_version, tasks_json
from ll4al.project.project import Project, ProjectError
from ll4al.project.status import stop_file, stop_verdict
from ll4al.project.training import describe_training

Log = Callable[[str], None]


def query(
    project: Project,
    k: int,
    strategy: str | None = None,
    progress: bool = True,
    log: Log = print,
    force: bool = False,
) -> Path:
    """Propose the next ``k`` images to label; returns the batch's CSV file. Where the
    project's stop rule (``stop:``) is met, refuses unless ``force``."""
    settings = project.settings
    strategy = project.round_strategy(strategy)
    if k < 1:
        raise ProjectError(f"--k must be at least 1, got {k}")
    check_settings(settings)  # model, device, strategy: before anything trains or is written
    if project.store.pool_size() < 2:
        raise ProjectError(
            f"the pool of {project.folder} has one image; a model needs at least two to learn "
            f"from: put more images under {project.images_root} and run `ll4al add`"
        )
    pending = [b for b in project.store.batches() if b["labeled"] + b["skipped"] < b["size"]]
    if pending:
        b = pending[0]
        todo = b["size"] - b["labeled"] - b["skipped"]
        skipped = f" ({b['skipped']} skipped as cannot be labeled)" if b["skipped"] else ""
        raise ProjectError(
            f"batch {b['id']} still has {todo} of {b['size']} images without a label or a "
            f"skip{skipped}; import them first (ll4al import {project.folder} FILE)"
        )
    project.store.check_writable()  # a database another program holds: say so before training
    images = check_images(project)
    require_unchanged(project, images, "query", pixels=True)
    remember(project, images)
    verdict = stop_verdict(project, k)
    if verdict is not None and verdict["met"]:
        if not force:
            raise ProjectError(f"{verdict['reason']}; pass --force to label another batch")
        log(f"{verdict['reason']}; going on (--force)")
    pool_data = project.pool_data(progress)
    pool = project.training_pool()
    session, evaluation = project.session(pool_data, strategy, progress, len(pool.labeled))
    unlabeled = len(pool.unlabeled)
    if not unlabeled:
        raise ProjectError("every image has a label: nothing left to propose")
    k = min(k, unlabeled)
    level = settings.active.spread
    wanted = k if level == "none" else min(unlabeled, k * CANDIDATES_PER_PLACE)
    if len(pool.labeled) < settings.active.initial:
        rule = project.first_batch_rule()
        batch = session.initial_batch(pool, wanted, rule)
        drawn = "a random draw" if rule == "random" else "the most typical images (TypiClust)"
        log(f"{len(pool.labeled)} labels < initial {settings.active.initial}: {drawn}")
        learner = None
    else:
        round_index = sum(1 for b in project.store.batches() if b["round"] is not None)
        learner = _learner_for_round(project, session, evaluation, pool, round_index, log)
        batch = session.propose(learner, pool, round_index, wanted, settings.active.subset)
    if level != "none":
        of_sample = project.store.groups(level)
        groups = [of_sample.get(s.id) or None for s in project.pool_samples()]  # "": unknown
        batch.indices = spread(batch.indices, groups, k)
        known = {groups[i] for i in batch.indices} - {None}
        log(f"batch spread by {level}: {len(known)} different among its {k} images")
    if learner is not None:
        session.describe(learner, batch)
    if not world().is_main:  # under torchrun the ranks scored; rank 0 writes
        return project.folder / "batches"
    return _write_batch(project, batch)


def _learner_for_round(
    project: Project,
    session: Session,
    evaluation: tuple[PoolData, list[Any]] | None,
    pool,
    round_index: int,
    log: Log,
):
    """The round's model: loaded if these labels already trained it, else trained and saved
    (so a query killed after training, or asked again, does not train again). Beside its
    weights, ``round-NNN.json`` says how it was trained (mode, encoder, training), and the
    round's row records the training too (``rounds.training``)."""
    with_lpm = session.strategy.needs_loss_prediction
    digest = project.labels_digest(pool, with_lpm)
    path = project.weights_path(round_index, with_lpm)
    saved = project.store.round_record(round_index)
    sidecar = _sidecar(path)  # written after the weights, before the row
    known = saved["labels_digest"] if saved is not None else sidecar.get("labels_digest")
    if known == digest and path.is_file():
        learner = session.new_learner(round_index)
        learner.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        log(f"round {round_index}: model loaded from {path}")
        if saved is None and world().is_main:  # killed before the row: the row, not a retrain
            metrics = None if evaluation is None else session.evaluate(learner, *evaluation)
            training = training_record(session.train_settings, len(pool.labeled))
            seconds = sidecar["seconds"]
            labeled = len(pool.labeled)
            store = project.store
            store.save_round(round_index, labeled, digest, path.name, metrics, seconds, training)
        if project.settings.stop.stop_set and not stop_file(project, round_index).is_file():
            _save_signals(project, session, learner, round_index, log)
        return learner
    started = time.perf_counter()
    try:
        learner = session.fit(pool, round_index, f"round {round_index} n={len(pool.labeled)}")
    except NonFiniteLossError as err:
        raise ProjectError(f"training round {round_index} stopped: {err}; lower train.lr") from err
    seconds = time.perf_counter() - started
    training = training_record(session.train_settings, len(pool.labeled))
    metrics = None
    if evaluation is not None:
        metrics = session.evaluate(learner, *evaluation)
    if world().is_main:
        with atomic_path(path) as tmp:
            torch.save(learner.model.state_dict(), tmp)
        provenance = round_provenance(project, session, seconds, training)
        write_json_atomic(path.with_suffix(".json"), {**provenance, "labels_digest": digest})
        project.store.save_round(
            round_index, len(pool.labeled), digest, path.name, metrics, seconds, training
        )
    if project.settings.stop.stop_set:
        _save_signals(project, session, learner, round_index, log)
    shown = (
        ""
        if metrics is None
        else f", {project.task.metric_name} {metrics[project.task.metric_name]:.4f}"
    )
    log(f"round {round_index}: trained on {len(pool.labeled)} labels in {seconds:.1f}s{shown}")
    log(f"round {round_index}: {describe_training(training)}")
    return learner


def _sidecar(weights: Path) -> dict[str, Any]:
    """``round-NNN.json`` beside a round's weights ({} where there is none, or it is not
    readable: the round is trained again)."""
    try:
        found = read_json(weights.with_suffix(".json"))
    except (OSError, CorruptFileError):
        return {}
    return found if isinstance(found, dict) else {}


def _save_signals(project: Project, session: Session, learner, round_index: int, log: Log) -> None:
    """The round's label-free stop signals on the project's stop set (one inference pass,
    ``ll4al.al.signals``), compared with the previous round's predictions, written to
    ``models/round-NNN-stop.json``."""
    from ll4al.al.seeds import stop_set
    from ll4al.al.signals import round_signals

    settings = project.settings
    indices = stop_set(len(session.pool_data), settings.stop.stop_set, settings.seed)
    before = stop_file(project, round_index - 1)
    previous = read_json(before)["predictions"] if before.is_file() else None
    signals, predictions = round_signals(learner, session.pool_data, indices, previous)
    if world().is_main:
        write_json_atomic(
            stop_file(project, round_index), {"signals": signals, "predictions": predictions}
        )
    kappa = signals["stop_agreement"]
    shown = "" if kappa is None else f", kappa with round {round_index - 1} {kappa:.3f}"
    log(
        f"round {round_index}: stop set of {len(indices)} scored in "
        f"{signals['stop_seconds']}s{shown}"
    )


def round_provenance(
    project: Project, session: Session, seconds: float, training: dict[str, Any]
) -> dict[str, Any]:
    """How a round's model was trained, for ``status`` and for whoever audits the curve:
    ``training`` is the round's ``training_record``, the settings it used (the label-count
    rule's where ``train_auto`` lists them; a frozen round's head's, without augmentation)."""
    model = project.model_settings()
    return {
        "mode": model.mode,
        "network": session.recipe.model.name,
        "encoder": model.weights,
        "encoder_info": encoder_provenance(project) if model.weights else None,
        "epochs": training["epochs"],
        "batch_size": training["batch_size"],
        "steps": training["steps"],
        "lr": training["lr"],
        "milestones": training["milestones"],
        "augment": training["augment"],
        "seconds": round(seconds, 2),
    }


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
                "checksum": sample.checksum,
            }
        )
    folder = project.folder / "batches"
    csv_path = folder / f"batch-{batch_id:03d}.csv"
    write_batch_csv(csv_path, rows)
    version = model_version(batch.round, batch.strategy)
    write_json_atomic(
        folder / f"batch-{batch_id:03d}-labelstudio.json",
        tasks_json(rows, settings.task, version, project_id=store.project_id()),
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
