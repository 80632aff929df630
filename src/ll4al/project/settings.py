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

from ll4al.config import ConfigError, ModelSettings, TrainSettings, build_settings
from ll4al.files import write_text_atomic
from ll4al.tasks.labels import LABEL_KINDS

SETTINGS_FILE = "project.yaml"
#: The tasks a labeling project can collect labels for: one per label kind.
TASKS = tuple(LABEL_KINDS)


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
    strategy: str = "learning-loss-balanced"
    seed: int = 0
    model: ModelSettings = field(default_factory=ModelSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    #: The ``train`` settings each round fits to its label count (``ll4al.al.fit_rule``);
    #: the others are used as written. New projects list the rule's keys the user did not set;
    #: a project.yaml without this key (made before the rule) trains as written.
    train_auto: list[str] = field(default_factory=list)
    active: ProjectActiveSettings = field(default_factory=ProjectActiveSettings)
    cost: CostSettings = field(default_factory=CostSettings)
    device: str = "auto"
    precision: str = "auto"
    eval_batch_size: int = 512

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, folder: Path) -> None:
        write_text_atomic(folder / SETTINGS_FILE, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, folder: Path) -> ProjectSettings:
        path = folder / SETTINGS_FILE
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {err}") from err
        return build_settings(cls, values, "")
