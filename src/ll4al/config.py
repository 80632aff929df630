"""Experiment configuration: YAML files checked key by key, and the shipped named settings."""

from __future__ import annotations

import dataclasses
import difflib
import os
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ll4al.training import TrainSettings


class ConfigError(ValueError):
    """A configuration that cannot be run as written."""


@dataclass
class DataSettings:
    """``name``: ``digits`` (bundled), ``cifar10`` or ``face-keypoints`` (``DATA_SETS`` in
    ``experiment.py``). ``root``: where the files are; by default ``$LL4AL_DATA/<name>`` with
    ``LL4AL_DATA`` defaulting to ``../shared/data``. ``validation``: hold this many pool
    samples out (a fixed random split, by whole groups where the data has them) and evaluate on
    them instead of the test set, so a protocol can be tuned without ever seeing the test set.
    """

    name: str = "digits"
    root: str | None = None
    download: bool = False
    validation: int = 0

    def resolved_root(self) -> Path:
        if self.root is not None:
            return Path(self.root).expanduser()
        return Path(os.environ.get("LL4AL_DATA", "../shared/data")) / self.name


@dataclass
class ModelSettings:
    """The target network; ``lpm_layers``/``embedding_layer`` default to the model's own."""

    name: str = "small-cnn"
    width: float = 1.0
    lpm_hidden: int = 128
    lpm_layers: list[str] | None = None
    embedding_layer: str | None = None


@dataclass
class ActiveSettings:
    """The cycle: ``initial`` random labels, then ``cycles - 1`` queries of ``query_size``
    samples each, chosen from a random ``subset`` of the unlabeled pool."""

    initial: int = 1000
    query_size: int = 1000
    subset: int = 10000
    cycles: int = 10


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    active: ActiveSettings = field(default_factory=ActiveSettings)
    strategies: list[str] = field(default_factory=lambda: ["random", "learning-loss"])
    seeds: list[int] = field(default_factory=lambda: [0])
    device: str = "auto"
    precision: str = "auto"
    eval_batch_size: int = 512

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Catch impossible settings before any data is loaded or model trained."""
        import torch

        from ll4al.experiment import data_set
        from ll4al.models import MODELS
        from ll4al.strategies import STRATEGIES
        from ll4al.training import check_augmentation

        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown:
            raise ConfigError(f"unknown strategies {unknown}; choose from {sorted(STRATEGIES)}")
        if not self.seeds or not self.strategies:
            raise ConfigError("at least one seed and one strategy are needed")
        task = data_set(self.data.name).task()
        unmet = {s: STRATEGIES[s].unmet_needs(task) for s in self.strategies}
        unfit = [s for s in self.strategies if unmet[s]]
        if unfit:
            needs = sorted({need for s in unfit for need in unmet[s]})
            fit = [n for n, s in STRATEGIES.items() if not s.unmet_needs(task)]
            raise ConfigError(
                f"strategies {unfit} need {' or '.join(needs)}, which the "
                f"{type(task).__name__} of data set {self.data.name!r} does not have; "
                f"choose from {sorted(fit)}"
            )
        try:
            check_augmentation(self.train.augment, task)
        except ValueError as err:
            raise ConfigError(f"train.{err}") from None
        if self.model.name not in MODELS:
            raise ConfigError(f"unknown model {self.model.name!r}; choose from {sorted(MODELS)}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ConfigError(f"precision must be auto, bf16 or fp32, got {self.precision!r}")
        if self.device != "auto":
            try:
                device = torch.device(self.device)
            except RuntimeError as err:
                raise ConfigError(f"invalid device {self.device!r}: {err}") from None
            if device.type == "cuda" and not torch.cuda.is_available():
                raise ConfigError(f"device {self.device!r} asked for, but CUDA is not available")
        if not isinstance(self.data.validation, int) or self.data.validation < 0:
            raise ConfigError(
                f"data.validation must be an integer >= 0, got {self.data.validation!r}"
            )
        a = self.active
        if min(a.query_size, a.subset, a.cycles) < 1 or a.initial < 2:
            raise ConfigError(
                "active.initial must be >= 2 (training needs two labels), and query_size, "
                "subset and cycles >= 1"
            )
        if a.query_size > a.subset:
            raise ConfigError(
                f"active.query_size ({a.query_size}) is larger than active.subset ({a.subset})"
            )

    def validate_pool(self, pool_size: int) -> None:
        """The protocol must fit in a pool of ``pool_size`` samples."""
        a = self.active
        needed = a.initial + (a.cycles - 1) * a.query_size
        if needed > pool_size:
            raise ConfigError(
                f"the protocol needs {needed} labels (initial {a.initial} + "
                f"{a.cycles - 1} x {a.query_size}) but the pool has only {pool_size} samples"
            )


def _expects_list(hint: Any) -> bool:
    return typing.get_origin(hint) is list or any(
        typing.get_origin(arg) is list for arg in typing.get_args(hint)
    )


def _build(cls: type, values: Any, where: str) -> Any:
    """Instantiate dataclass ``cls`` from a mapping, rejecting unknown keys by name."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping, got {type(values).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown key {where + '.' if where else ''}{key!r}.{hint} "
                f"Valid keys: {', '.join(known)}"
            )
        hint = hints[key]
        name = f"{where}.{key}".lstrip(".")
        if dataclasses.is_dataclass(hint):
            value = _build(hint, value, name)
        elif _expects_list(hint) and value is not None and not isinstance(value, list):
            raise ConfigError(f"{name} must be a list, e.g. [{value}], got {value!r}")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid {where or 'config'}: {err}") from err


def config_from_dict(values: dict[str, Any]) -> ExperimentConfig:
    return _build(ExperimentConfig, values, "")


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as YAML) to a config mapping."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        dotted, raw = item.split("=", 1)
        *parents, leaf = dotted.split(".")
        node = values
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"cannot set {dotted!r}: {part!r} is not a section")
        node[leaf] = yaml.safe_load(raw)
    return values


def named_configs() -> list[str]:
    """The configs shipped with the package, by name."""
    files = resources.files("ll4al") / "configs"
    return sorted(p.name.removesuffix(".yaml") for p in files.iterdir() if p.name.endswith(".yaml"))


def load_config(name_or_path: str, overrides: list[str] | None = None) -> ExperimentConfig:
    """Load a YAML file, or a shipped config by name (e.g. ``cifar10-cpu``)."""
    path = Path(name_or_path)
    if path.is_file():
        text = path.read_text()
    elif name_or_path in named_configs():
        text = (resources.files("ll4al") / "configs" / f"{name_or_path}.yaml").read_text()
    else:
        raise ConfigError(
            f"no config file {name_or_path!r} and no shipped config of that name; "
            f"shipped: {', '.join(named_configs())}"
        )
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{name_or_path} is not valid YAML: {err}") from err
    return config_from_dict(apply_overrides(values, overrides or []))
