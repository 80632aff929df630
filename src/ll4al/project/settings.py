"""A labeling project's settings: ``project.yaml`` in its folder, checked key by key.

The model, training and cycle settings are the benchmark's own (``ll4al.config``), so a
project and ``ll4al run`` with the same values and seed propose the same batches.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ll4al.config import ConfigError, ModelSettings, StopSettings, TrainSettings, build_settings
from ll4al.files import write_text_atomic
from ll4al.tasks.labels import LABEL_KINDS

SETTINGS_FILE = "project.yaml"
#: The tasks a labeling project can collect labels for: one per label kind.
TASKS = tuple(LABEL_KINDS)
#: A detection project's default strategy (learning-loss led on BCCD); ``ll4al init --help``
#: and ``TASK_DEFAULTS`` both say it from here.
DETECTION_STRATEGY = "learning-loss"
#: ``strategy: auto``, a classification project's default: the strategy our benchmarks found
#: best for how the round trains (``resolve_strategy``).
AUTO_STRATEGY = "auto"
#: Trained whole (from scratch or fine-tuned): the class-balanced Learning Loss, level with
#: random from scratch and ahead of it from self-supervised weights (cifar10-cpu-pretrained).
CLASSIFICATION_STRATEGY = "learning-loss-balanced"
#: A head on a frozen encoder's embeddings: core-set, +0.63 points of area under the curve
#: over random on cifar10-frozen (10 seeds), where learning-loss-balanced is 5.35 below random
#: (the LPM on the head ranks losses barely above chance).
FROZEN_STRATEGY = "core-set"


def resolve_strategy(strategy: str, task: str, frozen: bool) -> str:
    """``strategy`` itself, or for ``auto`` the one measured best for the round: core-set on a
    frozen head, else the task's Learning Loss."""
    if strategy != AUTO_STRATEGY:
        return strategy
    if frozen:
        return FROZEN_STRATEGY
    return DETECTION_STRATEGY if task == "detection" else CLASSIFICATION_STRATEGY


@dataclass
class CostSettings:
    """What one label costs: the configured rate, used where no time was recorded."""

    minutes: float = 0.0
    money: float = 0.0
    currency: str = ""


@dataclass
class ProjectActiveSettings:
    """``initial``: labels drawn before a model chooses; ``subset``: how many random
    unlabeled images each query scores; ``first``: how those first labels are drawn,
    ``random``, ``typical`` (TypiClust on the encoder's embeddings) or ``auto`` (typical where
    the project has an encoder); ``spread``: ``patient`` or ``series`` spreads a batch over
    the DICOM patients or series (``ll4al.al.spread``), ``none`` does not."""

    initial: int = 100
    subset: int = 10000
    first: str = "auto"
    spread: str = "none"


@dataclass
class ProjectSettings:
    name: str = "project"
    task: str = "classification"
    classes: list[str] = field(default_factory=list)
    #: The image folder, absolute (samples are paths relative to it).
    images: str = ""
    #: A labeled evaluation folder (``<class>/<image>``), absolute, or None.
    evaluation: str | None = None
    image_size: int = 32
    channels: int = 3
    #: How high-bit images and DICOM become 8 bits (``ll4al.data.intensity.MAPPINGS``).
    intensity: str = "auto"
    #: The metric status, the page's curve and each round report (None: the task's own);
    #: classification: accuracy, balanced_accuracy or auroc.
    metric: str | None = None
    strategy: str = AUTO_STRATEGY  # detection: DETECTION_STRATEGY
    seed: int = 0
    model: ModelSettings = field(default_factory=ModelSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    #: The ``train`` settings each round fits to its label count (``ll4al.al.fit_rule``);
    #: the others are used as written. New projects list the rule's keys the user did not set;
    #: a project.yaml without this key (made before the rule) trains as written.
    train_auto: list[str] = field(default_factory=list)
    active: ProjectActiveSettings = field(default_factory=ProjectActiveSettings)
    cost: CostSettings = field(default_factory=CostSettings)
    #: When ``query`` stops to ask for ``--force`` (``ll4al.al.forecast.stop_check``).
    stop: StopSettings = field(default_factory=StopSettings)
    device: str = "auto"
    precision: str = "auto"
    eval_batch_size: int = 512

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, folder: Path) -> None:
        write_text_atomic(folder / SETTINGS_FILE, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, folder: Path) -> ProjectSettings:
        """The settings in ``folder``, checked (``validate``) on every open: a project.yaml
        edited by hand is refused with its key named before any command works on it."""
        path = folder / SETTINGS_FILE
        try:
            text = path.read_bytes().decode("utf-8")
            values = yaml.safe_load(text)
        except UnicodeDecodeError as err:
            line = path.read_bytes()[: err.start].count(b"\n") + 1
            raise ConfigError(f"{path}: line {line}: not UTF-8 text (save it as UTF-8)") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {err}") from err
        if not values:
            raise ConfigError(
                f"{path} is empty: it must hold the project's settings (task, classes, "
                "images, ...); restore it from a backup"
            )
        try:
            settings = build_settings(cls, values, "")
            validate(settings)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None
        return settings


#: Characters a class name must not hold: it names a folder in an ``imagefolder`` export.
_UNSAFE = set('/\\:*?"<>|')


def class_name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be a class name (it becomes a folder and a file name), or None."""
    if not isinstance(name, str) or not name:
        return f"class names must be non-empty text, got {name!r}"
    if name != name.strip():
        return f"class name {name!r} starts or ends with a space"
    if name.startswith(".") or _UNSAFE & set(name) or any(ord(c) < 32 for c in name):
        return (
            f"class name {name!r} cannot be a folder name (no leading '.', no / \\ : * ? "
            '" < > | or control characters)'
        )
    return None


def validate(settings: ProjectSettings) -> None:
    """The checks that need no model code (``ll4al status`` runs them too): task, classes,
    sizes and counts. ``ll4al.project.commands.check_settings`` adds model, strategy and
    device before anything trains."""
    if settings.task not in TASKS:
        raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {settings.task!r}")
    classes = settings.classes
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ConfigError(f"classes needs at least two distinct names, got {classes}")
    for name in classes:
        problem = class_name_problem(name)
        if problem:
            raise ConfigError(f"classes: {problem}")
    if not settings.images:
        raise ConfigError("images (the image folder) is not set")
    if settings.channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {settings.channels!r}")
    if not isinstance(settings.image_size, int) or settings.image_size < 8:
        raise ConfigError(f"image_size must be an integer >= 8, got {settings.image_size!r}")
    if settings.eval_batch_size < 1:
        raise ConfigError(f"eval_batch_size must be >= 1, got {settings.eval_batch_size}")
    if settings.active.initial < 2 or settings.active.subset < 1:
        raise ConfigError(
            "active.initial must be >= 2 and active.subset >= 1, got "
            f"{settings.active.initial} and {settings.active.subset}"
        )
    if settings.cost.minutes < 0 or settings.cost.money < 0:
        raise ConfigError("cost.minutes and cost.money must be >= 0")
