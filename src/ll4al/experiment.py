"""An experiment: strategies x seeds of active-learning runs from one config, resumable.

Several processes may run the same experiment into the same directory at once: each
(strategy, seed) run is claimed by one of them, and each process ends by waiting for the
runs others hold, so every process finishes with the complete ``results.jsonl``.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm.auto import tqdm

from ll4al.config import ConfigError, DataSettings, ExperimentConfig
from ll4al.data import (
    FACE_FLIP_PAIRS,
    FACE_IMAGE_SIZE,
    FACE_KEYPOINTS,
    TaskData,
    hold_out,
    load_cifar10,
    load_digits,
    load_face_keypoints,
)
from ll4al.detection import DetectionTask
from ll4al.files import write_text_atomic
from ll4al.loop import ActiveLearningRun, RunSpec, build_learner
from ll4al.models import MODELS, build_model
from ll4al.pool import SimulatedOracle
from ll4al.runtime import resolve_precision, select_device
from ll4al.strategies import get_strategy
from ll4al.tasks import ClassificationTask, KeypointTask, TaskAdapter
from ll4al.voc import BCCD_CLASSES, VOC_CLASSES, load_voc

RESULTS_FILE = "results.jsonl"


@dataclass(frozen=True)
class DataSet:
    """A data set a config can name: how to load it and the task its labels pose.

    The task is known without loading the data, so a config is checked against it (strategies
    that need class probabilities, the augmentation) before anything is loaded or trained.
    """

    load: Callable[[DataSettings], TaskData]
    task: Callable[[], TaskAdapter]


DATA_SETS: dict[str, DataSet] = {
    "digits": DataSet(lambda settings: load_digits(seed=0), ClassificationTask),
    "cifar10": DataSet(
        lambda settings: load_cifar10(settings.resolved_root(), download=settings.download),
        ClassificationTask,
    ),
    "face-keypoints": DataSet(
        lambda settings: load_face_keypoints(settings.resolved_root()),
        lambda: KeypointTask(FACE_FLIP_PAIRS, FACE_IMAGE_SIZE, FACE_KEYPOINTS),
    ),
    # BCCD's VOC folder sits in <root>/BCCD; PASCAL VOC's in VOCdevkit/VOC2007 (or 2012), the
    # folder data.root names. VOC 2012's test annotations are not public: its val is the test.
    "bccd": DataSet(
        lambda settings: load_voc(_voc_folder(settings.resolved_root(), "BCCD"), BCCD_CLASSES),
        lambda: DetectionTask(BCCD_CLASSES),
    ),
    "voc2007": DataSet(
        lambda settings: load_voc(settings.resolved_root(), VOC_CLASSES),
        lambda: DetectionTask(VOC_CLASSES),
    ),
    "voc2012": DataSet(
        lambda settings: load_voc(settings.resolved_root(), VOC_CLASSES, "train", "val"),
        lambda: DetectionTask(VOC_CLASSES),
    ),
}


def _voc_folder(root: Path, inner: str) -> Path:
    """``root/inner`` where a data set ships its VOC folder inside, else ``root`` itself."""
    return root / inner if (root / inner / "Annotations").is_dir() else root


def data_set(name: str) -> DataSet:
    """The registered data set of that name, or a config error that lists the known ones."""
    if name not in DATA_SETS:
        raise ConfigError(f"unknown data set {name!r}; choose from {', '.join(sorted(DATA_SETS))}")
    return DATA_SETS[name]


def load_task_data(config: ExperimentConfig) -> TaskData:
    """The data named by the config, with its validation hold-out if it asks for one."""
    data = data_set(config.data.name).load(config.data)
    if config.data.validation:
        try:
            data = hold_out(data, config.data.validation)
        except ValueError as err:
            raise ConfigError(f"data.validation: {err}") from err
    return data


def run_dir_for(out_dir: Path, strategy: str, seed: int) -> Path:
    return out_dir / "runs" / f"{strategy}-seed{seed}"


@contextmanager
def claim(run_dir: Path, wait: bool) -> Iterator[bool]:
    """An exclusive lock on one (strategy, seed) run; yields whether it was obtained.

    Why: the same ``ll4al run`` started in several processes (one per GPU, or one
    single-threaded process per CPU core) then shares the runs instead of repeating them.
    The lock is the operating system's (``flock``), so it is released when a worker dies.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_results(out_dir: Path, runs: list[ActiveLearningRun]) -> list[dict[str, Any]]:
    """Rewrite ``results.jsonl`` from the runs' saved records, sorted by strategy, seed and
    cycle: a resumed run never duplicates a line, and runs of other configs are left out."""
    records = sorted(
        (r for run in runs for r in run.records),
        key=lambda r: (r["strategy"], r["seed"], r["cycle"]),
    )
    write_text_atomic(out_dir / RESULTS_FILE, "".join(json.dumps(r) + "\n" for r in records))
    return records


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | Path,
    progress: bool = True,
    on_cycle: Callable[[dict[str, Any]], None] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run (or resume) every strategy and seed of ``config``; returns the records written to
    ``results.jsonl``. ``log`` receives a line when saved cycles are resumed."""
    out_dir = Path(out_dir)
    config.validate()
    data = load_task_data(config)
    config.validate_pool(len(data.train))
    if data.train.targets is None or data.test.targets is None:
        raise ConfigError("a simulated experiment needs the labels of the pool and test set")

    device = select_device(config.device)
    precision = resolve_precision(config.precision, device)
    spec = MODELS[config.model.name]
    lpm_layers = config.model.lpm_layers or spec.lpm_layers
    embedding_layer = config.model.embedding_layer or spec.embedding_layer
    example = data.train.inputs(torch.arange(2))
    task = data_set(config.data.name).task()

    def make_learner(with_lpm: bool):
        model = build_model(
            config.model.name, data.num_outputs, data.in_channels, config.model.width
        )
        return build_learner(
            model,
            task,
            device,
            precision,
            with_lpm,
            lpm_layers,
            config.model.lpm_hidden,
            example,
            embedding_layer,
            config.eval_batch_size,
        )

    try:  # a wrong layer name or a model unfit for the task should fail now, not after hours
        learner = make_learner(True)
        learner.infer(data.train, [0, 1], ["predicted_loss", "embedding"])
        with torch.no_grad():
            output, _ = learner.forward(learner.to_device(example))
            labels = data.train.targets[:2].tolist()
            task.per_sample_loss(output, task.collate_targets(labels, device))
    except (ValueError, RuntimeError) as err:
        raise ConfigError(f"model {config.model.name!r}: {err}") from err

    fingerprint = {k: v for k, v in config.to_dict().items() if k not in ("strategies", "seeds")}
    test_labels = data.test.targets.tolist()
    oracle = SimulatedOracle(data.train.targets)

    runs = [  # built up front: a state from another configuration fails before any work
        ActiveLearningRun(
            run_dir_for(out_dir, name, seed),
            RunSpec(
                get_strategy(name),
                seed,
                config.train,
                config.active.initial,
                config.active.query_size,
                config.active.subset,
                config.active.cycles,
                fingerprint,
            ),
            make_learner,
            task,
            data.train,
            oracle,
            data.test,
            test_labels,
            progress,
        )
        for seed in config.seeds
        for name in config.strategies
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))

    done = sum(run.next_cycle for run in runs)
    if done:
        log(f"resuming from {done} saved cycle(s) in {out_dir}")
    overall = tqdm(
        total=len(runs) * config.active.cycles,
        initial=done,
        desc=config.name,
        unit="cycle",
        disable=not progress,
    )

    def record_cycle(record: dict[str, Any]) -> None:
        write_results(out_dir, runs)
        overall.update(1)
        if on_cycle is not None:
            on_cycle(record)

    def run_claimed(run: ActiveLearningRun) -> None:
        before = run.next_cycle
        run.reload()
        overall.update(run.next_cycle - before)
        run.run(on_cycle=record_cycle)

    busy = []  # runs another worker holds: done last, once it lets go (or resumed if it died)
    for run in runs:
        with claim(run.run_dir, wait=False) as mine:
            if mine:
                run_claimed(run)
            else:
                busy.append(run)
    for run in busy:
        with claim(run.run_dir, wait=True):
            run_claimed(run)
    overall.close()
    return write_results(out_dir, runs)
