"""The data sets a config can name, each with the task its labels pose."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ll4al.config import ConfigError, DataSettings
from ll4al.data.arrays import TaskData, hold_out
from ll4al.data.builtin import (
    FACE_FLIP_PAIRS,
    FACE_IMAGE_SIZE,
    FACE_KEYPOINTS,
    load_cifar10,
    load_digits,
    load_face_keypoints,
)
from ll4al.data.imagefolder import load_imagefolder
from ll4al.data.voc import BCCD_CLASSES, VOC_CLASSES, load_voc
from ll4al.tasks import ClassificationTask, DetectionTask, KeypointTask, TaskAdapter


@dataclass(frozen=True)
class DataSet:
    """A data set a config can name: how to load it and the task its labels pose.

    The task is known without loading the data, so a config is checked against it (strategies
    that need class probabilities, the augmentation) before anything is loaded or trained.
    """

    #: ``load(settings, progress)``: progress shows a bar while images are decoded.
    load: Callable[[DataSettings, bool], TaskData]
    task: Callable[[], TaskAdapter]


DATA_SETS: dict[str, DataSet] = {
    "digits": DataSet(lambda settings, progress: load_digits(seed=0), ClassificationTask),
    "cifar10": DataSet(
        lambda settings, progress: load_cifar10(
            settings.resolved_root(), download=settings.download, progress=progress
        ),
        ClassificationTask,
    ),
    "face-keypoints": DataSet(
        lambda settings, progress: load_face_keypoints(settings.resolved_root()),
        lambda: KeypointTask(FACE_FLIP_PAIRS, FACE_IMAGE_SIZE, FACE_KEYPOINTS),
    ),
    # BCCD's VOC folder sits in <root>/BCCD; PASCAL VOC's in VOCdevkit/VOC2007 (or 2012), the
    # folder data.root names. VOC 2012's test annotations are not public: its val is the test.
    "bccd": DataSet(
        lambda settings, progress: load_voc(
            _voc_folder(settings.resolved_root(), "BCCD"), BCCD_CLASSES
        ),
        lambda: DetectionTask(BCCD_CLASSES),
    ),
    "voc2007": DataSet(
        lambda settings, progress: load_voc(settings.resolved_root(), VOC_CLASSES),
        lambda: DetectionTask(VOC_CLASSES),
    ),
    "imagefolder": DataSet(load_imagefolder, ClassificationTask),
    "voc2012": DataSet(
        lambda settings, progress: load_voc(settings.resolved_root(), VOC_CLASSES, "train", "val"),
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


def load_task_data(settings: DataSettings, progress: bool = True) -> TaskData:
    """The data the settings name, with the validation hold-out they ask for, if any."""
    data = data_set(settings.name).load(settings, progress)
    if settings.validation:
        try:
            data = hold_out(data, settings.validation)
        except ValueError as err:
            raise ConfigError(f"data.validation: {err}") from err
    return data
