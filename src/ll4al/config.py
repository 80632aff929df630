"""Experiment configuration: YAML files checked key by key, and the shipped named settings."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration that cannot be run as written."""


@dataclass
class DataSettings:
    """``name``: a registered data set (``ll4al.data.registry.DATA_SETS``: ``digits``
    (bundled), ``cifar10``, ``face-keypoints``, ``bccd``, ``voc2007``, ``voc2012``, or
    ``imagefolder``, a folder of your own with ``train/<class>/`` and ``test/<class>/``).
    ``root``: where the files are; by default ``$LL4AL_DATA/<name>`` with ``LL4AL_DATA``
    defaulting to ``../shared/data``. ``validation``: hold this many pool samples out (a fixed
    random split, by whole groups where the data has them) and evaluate on them instead of the
    test set, so a protocol can be tuned without ever seeing the test set. ``image_size``:
    resize every image to this square size (``imagefolder``; default: keep the files' size,
    which must then agree). ``channels``: 1 or 3 (``imagefolder``; default: 1 if every image is
    grayscale, else 3). ``metric``: the metric that reports, the AULC and the cost table
    use, one of the task's (classification: ``accuracy``, ``balanced_accuracy``, ``auroc``);
    default: the task's own.
    """

    name: str = "digits"
    root: str | None = None
    download: bool = False
    validation: int = 0
    image_size: int | None = None
    channels: int | None = None
    metric: str | None = None

    def resolved_root(self) -> Path:
        if self.root is not None:
            return Path(self.root).expanduser()
        return Path(os.environ.get("LL4AL_DATA", "../shared/data")) / self.name


@dataclass
class TrainSettings:
    """Per-cycle training hyper-parameters (defaults: the paper's CIFAR-10 protocol)."""

    epochs: int = 200
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    milestones: list[int] = field(default_factory=lambda: [160])
    gamma: float = 0.1
    lpm_weight: float = 1.0
    margin: float = 1.0
    stop_gradient_epoch: int = 120
    #: Under torchrun: batch-norm statistics over all ranks' samples of a batch (as one
    #: process computes them) instead of each rank's own.
    sync_batchnorm: bool = False
    #: The task's training-time augmentation by name (``crop-flip`` for classification,
    #: ``flip`` for keypoints), or ``none``.
    augment: str = "crop-flip"
    #: The LPM's pairs: ``half``, the paper's B/2 disjoint pairs, or ``all`` B(B-1)/2 pairs
    #: (more order information from the same batch).
    rank_pairs: str = "half"
    #: The LPM's loss: ``margin``, the paper's pairwise margin loss, or ``listwise``, a
    #: softmax cross-entropy over the whole batch (``ll4al.models.losses``; ``margin`` and
    #: ``rank_pairs`` unused). Under torchrun, ``all`` and ``listwise`` see only each rank's
    #: share of a batch, unlike one process.
    rank_loss: str = "margin"

    def __post_init__(self) -> None:
        if not isinstance(self.augment, str) or not self.augment:
            raise ValueError(f"augment must be the name of an augmentation, got {self.augment!r}")
        if self.rank_pairs not in ("half", "all"):
            raise ValueError(f"rank_pairs must be 'half' or 'all', got {self.rank_pairs!r}")
        if self.rank_loss not in ("margin", "listwise"):
            raise ValueError(f"rank_loss must be 'margin' or 'listwise', got {self.rank_loss!r}")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be >= 1 and batch_size >= 2")


#: How a round trains (``model.mode``): the whole network, a head on frozen embeddings, or
#: ``auto``: frozen where there is an encoder (``model.weights``, a project's own), else
#: fine-tuned.
TRAINING_MODES = ("finetune", "frozen", "auto")


@dataclass
class ModelSettings:
    """The target network; ``lpm_layers``/``embedding_layer`` default to the model's own.

    ``weights``: a checkpoint (a ``state_dict``, e.g. from ``ll4al pretrain``) every round's
    fresh network starts from instead of random weights, for every strategy alike; its shapes
    must match the network's, but for the classifier head (``ll4al.models.weights``).
    ``mode``: ``finetune`` trains the whole network each round; ``frozen`` keeps the network
    (with ``weights``: the encoder) fixed, embeds the pool once (cached) and trains only a
    small head of width ``head_width`` on the embeddings (``ll4al.encoders``).
    """

    name: str = "small-cnn"
    width: float = 1.0
    lpm_hidden: int = 128
    lpm_layers: list[str] | None = None
    embedding_layer: str | None = None
    weights: str | None = None
    mode: str = "finetune"
    head_width: float = 1.0


#: How the first labels are chosen (``active.first``): at random, or the most typical samples
#: of the encoder's embeddings (``ll4al.al.first_batch``).
FIRST_BATCH_RULES = ("random", "typical")


@dataclass
class ActiveSettings:
    """The cycle: ``initial`` labels, then ``cycles - 1`` queries of ``query_size`` samples
    each, chosen from a random ``subset`` of the unlabeled pool. ``first``: how the initial
    labels are chosen, ``random`` or ``typical`` (TypiClust on the encoder's embeddings:
    needs ``model.weights``; ``ll4al.al.first_batch``)."""

    initial: int = 1000
    query_size: int = 1000
    subset: int = 10000
    cycles: int = 10
    first: str = "random"


@dataclass
class StopSettings:
    """When to stop labeling (``ll4al.al.forecast.stop_check``), off while both thresholds
    are null: stop once the forecast gain of the next batch stayed below
    ``min_gain_per_100`` points per 100 labels, or its price above ``max_cost_per_point``
    (money per point, at the project's ``cost.money`` per label), for ``patience`` rounds in a
    row. A benchmark run only records where the rule would have stopped.

    The label-free signals (no evaluation set needed): ``stop_set`` > 0 scores that many
    fixed pool samples with each round's model (one inference pass, no training) and records
    the agreement of successive rounds' predictions (Cohen's kappa), the mean uncertainty and
    the LPM's mean predicted loss; ``min_agreement`` stops once the kappa stayed at or above it
    for ``patience`` rounds (stabilizing predictions, Bloodgood & Vijay-Shanker 2009)."""

    min_gain_per_100: float | None = None
    max_cost_per_point: float | None = None
    patience: int = 2
    stop_set: int = 0
    min_agreement: float | None = None

    def __post_init__(self) -> None:
        for name in ("min_gain_per_100", "max_cost_per_point"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 (or null: not used), got {value!r}")
        if self.patience < 1:
            raise ValueError(f"patience must be >= 1 round, got {self.patience!r}")
        if self.stop_set < 0:
            raise ValueError(f"stop_set must be >= 0 samples, got {self.stop_set!r}")
        if self.min_agreement is not None:
            if not 0 < self.min_agreement <= 1:
                raise ValueError(f"min_agreement must be in (0, 1], got {self.min_agreement!r}")
            if self.stop_set < 1:
                raise ValueError("min_agreement needs a stop_set to score (e.g. stop_set: 1000)")

    @property
    def on_gain(self) -> bool:
        """Whether a rule on the forecast gain is set."""
        return self.min_gain_per_100 is not None or self.max_cost_per_point is not None

    @property
    def active(self) -> bool:
        """Whether anything is set: a rule or the signals."""
        return self.on_gain or self.min_agreement is not None or self.stop_set > 0


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
    #: Where a stop rule would have stopped is recorded; the run goes on to ``cycles``.
    stop: StopSettings = field(default_factory=StopSettings)

    def to_dict(self) -> dict[str, Any]:
        """The settings as written to a run's ``config.yaml``; ``stop`` only where a rule is
        set, so runs without one write what they wrote before it existed."""
        values = dataclasses.asdict(self)
        if not self.stop.active:
            del values["stop"]
        return values

    def fingerprint(self) -> dict[str, Any]:
        """The settings a saved run must share to be resumed: all but strategies, seeds and
        the stop rule (it changes no batch).

        Settings added later are left out while at their defaults, so that runs saved before
        they existed still resume.
        """
        values = {
            k: v for k, v in self.to_dict().items() if k not in ("strategies", "seeds", "stop")
        }
        for (section, key), default in _ADDED_LATER.items():
            if values[section][key] == default:
                del values[section][key]
        return values


#: Settings added after runs were first saved, with their defaults (the image folder's data
#: settings, DDP's synchronised batch norm, a pretrained start, the LPM's pairs and loss, the
#: frozen-encoder mode and the first batch's rule).
_ADDED_LATER = {
    ("data", "image_size"): None,
    ("data", "channels"): None,
    ("train", "sync_batchnorm"): False,
    ("train", "rank_pairs"): "half",
    ("train", "rank_loss"): "margin",
    ("model", "weights"): None,
    ("model", "mode"): "finetune",
    ("model", "head_width"): 1.0,
    ("active", "first"): "random",
}


def _expects_list(hint: Any) -> bool:
    return typing.get_origin(hint) is list or any(
        typing.get_origin(arg) is list for arg in typing.get_args(hint)
    )


def _one_line(err: Exception) -> str:
    """An error's message in one line (YAML's span several, with a pointer to the column)."""
    problem, mark = getattr(err, "problem", None), getattr(err, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(err).split())


def _type_name(hint: Any) -> str:
    """How an expected type reads in a message: ``an integer``, ``a list of strings``."""
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    if hint in names:
        return names[hint]
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint) or (Any,)
        plural = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}
        return f"a list of {plural.get(item, 'values')}"
    args = typing.get_args(hint)
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return " or ".join(_type_name(a) for a in rest) + " or null"
    return getattr(hint, "__name__", str(hint))


def _fits(value: Any, hint: Any) -> bool:
    """Whether a YAML value has the type a settings field declares (int: not bool; float: an
    int or a float; ``list[X]``: every element; ``X | None``: either)."""
    if hint is Any:
        return True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value) if args else True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    return isinstance(value, hint) if isinstance(hint, type) else True


def build_settings(cls: type, values: Any, where: str) -> Any:
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
            value = build_settings(hint, value, name)
        elif _expects_list(hint) and value is not None and not isinstance(value, list):
            raise ConfigError(f"{name} must be a list, e.g. [{value}], got {value!r}")
        elif not _fits(value, hint):
            raise ConfigError(f"{name} must be {_type_name(hint)}, got {value!r}")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid {where or 'config'}: {err}") from err


def config_from_dict(values: dict[str, Any]) -> ExperimentConfig:
    return build_settings(ExperimentConfig, values, "")


def add_overrides_argument(parser: argparse.ArgumentParser, example: str) -> None:
    """``--set KEY=VALUE`` (repeatable), the one way every command takes a setting."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a setting (a YAML value), e.g. {example}",
    )


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as YAML) to a config mapping."""
    if overrides and not isinstance(values, dict):
        raise ConfigError(f"the config must be a mapping, got {type(values).__name__}")
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
        try:
            node[leaf] = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ConfigError(
                f"--set {dotted}: {raw!r} is not a valid YAML value ({_one_line(err)})"
            ) from None
    return values


def named_configs() -> list[str]:
    """The configs shipped with the package, by name."""
    files = resources.files("ll4al") / "configs"
    return sorted(p.name.removesuffix(".yaml") for p in files.iterdir() if p.name.endswith(".yaml"))


def config_text(name_or_path: str) -> str:
    """The YAML text of a config file, or of a shipped config by name (with its comments)."""
    path = Path(name_or_path)
    if path.is_file():
        return path.read_text()
    if name_or_path in named_configs():
        return (resources.files("ll4al") / "configs" / f"{name_or_path}.yaml").read_text()
    raise ConfigError(
        f"no config file {name_or_path!r} and no shipped config of that name; "
        f"shipped: {', '.join(named_configs())}"
    )


def load_config(name_or_path: str, overrides: list[str] | None = None) -> ExperimentConfig:
    """Load a YAML file, or a shipped config by name (e.g. ``cifar10-cpu``)."""
    text = config_text(name_or_path)
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{name_or_path} is not valid YAML: {_one_line(err)}") from err
    return config_from_dict(apply_overrides(values, overrides or []))
