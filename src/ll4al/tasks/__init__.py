"""Task adapters: the only task-specific piece of active learning (one module per task).

The adapters import torch, so they load on first use; the label kinds (``labels.py``) do not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ll4al.lazy import lazy_attributes
from ll4al.tasks.labels import LABEL_KINDS, BoxLabels, ClassLabels

if TYPE_CHECKING:
    from ll4al.tasks.base import MetricError, TaskAdapter, entropy
    from ll4al.tasks.classification import ClassificationTask
    from ll4al.tasks.detection import DetectionTask
    from ll4al.tasks.keypoints import KeypointTask

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
__getattr__ = lazy_attributes(
    __name__,
    {
        "MetricError": "ll4al.tasks.base",
        "TaskAdapter": "ll4al.tasks.base",
        "entropy": "ll4al.tasks.base",
        "ClassificationTask": "ll4al.tasks.classification",
        "DetectionTask": "ll4al.tasks.detection",
        "KeypointTask": "ll4al.tasks.keypoints",
    },
)
