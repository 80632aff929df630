"""Task adapters: the only task-specific piece of active learning (one module per task)."""

from ll4al.tasks.base import MetricError, TaskAdapter, entropy
from ll4al.tasks.classification import ClassificationTask, ClassLabels
from ll4al.tasks.detection import BoxLabels, DetectionTask
from ll4al.tasks.keypoints import KeypointTask

#: The label kinds a labeling project can collect, by task name.
LABEL_KINDS: dict[str, type[ClassLabels] | type[BoxLabels]] = {
    ClassLabels.task_name: ClassLabels,
    BoxLabels.task_name: BoxLabels,
}

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
