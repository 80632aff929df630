"""Task adapters: the only task-specific piece of active learning (one module per task)."""

from ll4al.tasks.base import TaskAdapter, entropy
from ll4al.tasks.classification import ClassificationTask
from ll4al.tasks.detection import DetectionTask
from ll4al.tasks.keypoints import KeypointTask

__all__ = ["ClassificationTask", "DetectionTask", "KeypointTask", "TaskAdapter", "entropy"]
