"""Task adapters: the only task-specific piece of active learning (one module per task)."""

from ll4al.tasks.base import MetricError, TaskAdapter, entropy
from ll4al.tasks.classification import ClassificationTask
from ll4al.tasks.detection import DetectionTask
from ll4al.tasks.keypoints import KeypointTask
from ll4al.tasks.labels import LABEL_KINDS, BoxLabels, ClassLabels

__all__ = [
    "LABEL_KINDS",
    "BoxLabels",
    "ClassLabels",
    "ClassificationTask",
    "DetectionTask",
    "KeypointTask",
    "MetricError",
    "TaskAdapter",
    "entropy",
]
