"""An experiment config checked as a whole, before any data is loaded or model trained."""

from __future__ import annotations

import re

from ll4al.al.checks import check_active, check_runtime, check_strategies, check_training
from ll4al.config import ConfigError, ExperimentConfig
from ll4al.data.registry import data_set


def validate_config(config: ExperimentConfig) -> None:
    """Catch impossible settings: unknown names, strategies unfit for the data set's task."""
    check_name(config.name)
    if not config.seeds or not config.strategies:
        raise ConfigError("at least one seed and one strategy are needed")
    task = data_set(config.data.name).task().with_metric(config.data.metric)
    check_strategies(config.strategies, task, f"data set {config.data.name!r}")
    check_training(config.model, config.train, task)
    check_runtime(config.device, config.precision)
    if not isinstance(config.data.validation, int) or config.data.validation < 0:
        raise ConfigError(
            f"data.validation must be an integer >= 0, got {config.data.validation!r}"
        )
    check_active(config.active)
    if config.stop.max_cost_per_point is not None:
        raise ConfigError(
            "stop.max_cost_per_point needs a price per label, which a benchmark has not; "
            "use stop.min_gain_per_100 (a project's cost.money prices it)"
        )
    uses = [
        setting
        for setting, used in (
            ("model.mode frozen", config.model.mode == "frozen"),
            ("active.first typical", config.active.first == "typical"),
        )
        if used
    ]
    if uses and config.model.weights is None:
        raise ConfigError(
            f"{' and '.join(uses)} need an encoder: set model.weights (make one with "
            f"`ll4al pretrain {config.name} --out FILE`)"
        )


def check_name(name: str) -> None:
    """A config's name is the default output folder (``runs/<name>``): a plain folder name,
    so that it can never point outside ``runs/`` (``../x``) or at ``runs/`` itself."""
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or name in (".", ".."):
        raise ConfigError(
            f"name {name!r} is not a plain folder name (letters, digits, '.', '_' and '-'; "
            "not '.' or '..'): it names the output folder runs/<name>"
        )
