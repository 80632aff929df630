"""Settings checked against what is registered, before any data is loaded or model trained.

Shared by the benchmark's configs and the labeling project's: both name a model, strategies,
a device and a precision, and both should fail on a typo now rather than after hours.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ll4al.al.training import check_augmentation
from ll4al.config import (
    FIRST_BATCH_RULES,
    TRAINING_MODES,
    ActiveSettings,
    ConfigError,
    ModelSettings,
    TrainSettings,
)
from ll4al.models.networks import MODELS
from ll4al.strategies import STRATEGIES, get_strategy, parse_strategy
from ll4al.tasks import ClassificationTask, TaskAdapter


def check_strategies(strategies: list[str], task: TaskAdapter, task_name: str) -> None:
    """Every strategy is registered, its options (``name(key=value)``) are ones it takes,
    and it reads only what ``task`` gives."""
    try:
        names = {spec: parse_strategy(spec)[0] for spec in strategies}
    except ValueError as err:
        raise ConfigError(str(err)) from None
    unknown = [s for s in strategies if names[s] not in STRATEGIES]
    if unknown:
        raise ConfigError(f"unknown strategies {unknown}; choose from {sorted(STRATEGIES)}")
    for spec in strategies:  # the options too: a typo fails now, not after hours of training
        try:
            get_strategy(spec)
        except ValueError as err:
            raise ConfigError(str(err)) from None
    unmet = {s: STRATEGIES[names[s]].unmet_needs(task) for s in strategies}
    unfit = [s for s in strategies if unmet[s]]
    if unfit:
        needs = sorted({need for s in unfit for need in unmet[s]})
        fit = [n for n, s in STRATEGIES.items() if not s.unmet_needs(task)]
        raise ConfigError(
            f"strategies {unfit} need {' or '.join(needs)}, which the "
            f"{type(task).__name__} of {task_name} does not have; choose from {sorted(fit)}"
        )


def check_training(model: ModelSettings, train: TrainSettings, task: TaskAdapter) -> None:
    """A registered model, its ``weights`` file if it names one, and an augmentation the task
    implements. (The checkpoint's shapes are checked once the network is built.)"""
    try:
        check_augmentation(train.augment, task)
    except ValueError as err:
        raise ConfigError(f"train.{err}") from None
    if model.name not in MODELS:
        raise ConfigError(f"unknown model {model.name!r}; choose from {sorted(MODELS)}")
    if model.weights is not None and not Path(model.weights).expanduser().is_file():
        raise ConfigError(
            f"model.weights: no file {model.weights!r} (make one with "
            f"`ll4al pretrain CONFIG --out {model.weights}`, or fix the path)"
        )
    if model.mode not in TRAINING_MODES:
        raise ConfigError(
            f"model.mode must be one of {', '.join(TRAINING_MODES)}, got {model.mode!r}"
        )
    if model.mode == "frozen" and not isinstance(task, ClassificationTask):
        raise ConfigError(
            f"model.mode frozen trains a classification head; the {type(task).__name__} "
            "needs model.mode finetune"
        )
    if not model.head_width > 0:
        raise ConfigError(f"model.head_width must be > 0, got {model.head_width!r}")


def check_runtime(device: str, precision: str) -> None:
    """A precision ll4al knows and a device this machine has."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ConfigError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    if device != "auto":
        try:
            parsed = torch.device(device)
        except RuntimeError as err:
            raise ConfigError(f"invalid device {device!r}: {err}") from None
        if parsed.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} asked for, but CUDA is not available")


def check_active(active: ActiveSettings) -> None:
    """The cycle's sizes make sense on their own (their fit to a pool comes once it is known)."""
    if active.initial < 2:
        raise ConfigError(
            f"active.initial must be >= 2 (training needs two labels), got {active.initial}"
        )
    for key in ("query_size", "subset", "cycles"):
        value = getattr(active, key)
        if value < 1:
            raise ConfigError(f"active.{key} must be >= 1, got {value}")
    if active.first not in FIRST_BATCH_RULES:
        raise ConfigError(
            f"active.first must be one of {', '.join(FIRST_BATCH_RULES)}, got {active.first!r}"
        )
    if active.query_size > active.subset:
        raise ConfigError(
            f"active.query_size ({active.query_size}) is larger than active.subset "
            f"({active.subset})"
        )


def check_protocol_fits(active: ActiveSettings, pool_size: int) -> None:
    """The whole protocol must fit in a pool of ``pool_size`` samples."""
    needed = active.initial + (active.cycles - 1) * active.query_size
    if needed > pool_size:
        raise ConfigError(
            f"the protocol needs {needed} labels (initial {active.initial} + "
            f"{active.cycles - 1} x {active.query_size}) but the pool has only {pool_size} "
            "samples"
        )
