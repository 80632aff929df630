"""Task adapters: the only task-specific piece of an active-learning experiment.

A new task (detection, pose, segmentation, regression) is one adapter: how to turn labels into
a target batch, the per-sample loss the LPM learns to rank, the metric, and (where the task
has them) class probabilities for uncertainty strategies. Strategies, pool, loop and CLI stay
the same.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F


class TaskAdapter(ABC):
    """What the loop and the strategies need to know about a task."""

    metric_name: str = "metric"

    @abstractmethod
    def collate_targets(self, labels: Sequence[Any], device: torch.device) -> Any:
        """Turn the oracle's labels of a batch into the targets the loss takes."""

    @abstractmethod
    def per_sample_loss(self, output: Any, targets: Any) -> torch.Tensor:
        """The target loss of each sample, ``[B]``: what the LPM learns to rank."""

    @abstractmethod
    def metric(self, outputs: Sequence[Any], targets: Sequence[Any]) -> float:
        """The task's metric over a whole evaluation set given batch by batch."""

    def probabilities(self, output: Any) -> torch.Tensor:
        """Class probabilities ``[B, C]``, for uncertainty strategies."""
        raise NotImplementedError(f"{type(self).__name__} has no class probabilities")


class ClassificationTask(TaskAdapter):
    """Cross-entropy per sample; accuracy."""

    metric_name = "accuracy"

    def collate_targets(self, labels: Sequence[Any], device: torch.device) -> torch.Tensor:
        return torch.as_tensor(labels, dtype=torch.long, device=device)

    def per_sample_loss(self, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output.float(), targets, reduction="none")

    def metric(self, outputs: Sequence[torch.Tensor], targets: Sequence[torch.Tensor]) -> float:
        correct = sum(int((o.argmax(1) == t).sum()) for o, t in zip(outputs, targets, strict=True))
        return correct / max(1, sum(len(t) for t in targets))

    def probabilities(self, output: torch.Tensor) -> torch.Tensor:
        return output.float().softmax(dim=1)
