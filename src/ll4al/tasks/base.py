"""Task adapters: the only task-specific piece of an active-learning experiment.

A new task (detection, pose, segmentation, regression) is one adapter: how the oracle's labels
become a target batch, how a training batch is augmented (inputs and targets together, since a
flip moves keypoints and boxes), the per-sample loss the LPM learns to rank, the metrics, and
(where the task has them) class probabilities for uncertainty strategies. Strategies, pool,
loop and CLI stay the same: they see a model output and targets only through the adapter.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from ll4al.config import ConfigError


class MetricError(ValueError):
    """A metric that cannot be computed on this evaluation set (e.g. detection mAP with no
    ground-truth box at all): an error, never a sentinel value in the results."""


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """The entropy (in nats) of each distribution along the last dimension."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(dim=-1)


class TaskAdapter(ABC):
    """What the loop and the strategies need to know about a task.

    Outputs and targets are whatever the model returns and ``collate_targets`` builds (tensors,
    lists of dicts for detection): only the adapter looks inside them.
    """

    #: The primary metric, a key of ``metrics``: the one printed per cycle and reported
    #: (an instance may name another of ``metric_choices``: ``with_metric``).
    metric_name: str
    #: The metrics that may be named as the primary one (``data.metric``, a project's
    #: ``metric``); by default only ``metric_name``.
    metric_choices: ClassVar[tuple[str, ...]] = ()

    def with_metric(self, name: str | None) -> TaskAdapter:
        """This task reporting ``name`` as its primary metric (None: the default); the
        reports, the AULC and the cost table follow it."""
        if name is not None and name != self.metric_name:
            choices = self.metric_choices or (self.metric_name,)
            if name not in choices:
                raise ConfigError(
                    f"metric {name!r} is not one of {type(self).__name__}'s: {', '.join(choices)}"
                )
            self.metric_name = name
        return self

    #: The name of the training-time augmentation ``augment`` applies (``train.augment``), or
    #: None for a task without one.
    augmentation: ClassVar[str | None] = None

    @abstractmethod
    def collate_targets(self, labels: Sequence[Any], device: torch.device) -> Any:
        """Turn the oracle's labels of a batch into the targets the loss takes."""

    def augment(
        self, inputs: torch.Tensor, targets: Any, generator: torch.Generator
    ) -> tuple[torch.Tensor, Any]:
        """A randomly augmented training batch; targets change with the inputs. Randomness
        comes from ``generator`` only, so a cycle's training is fixed by its seed."""
        raise NotImplementedError(f"{type(self).__name__} has no training-time augmentation")

    @abstractmethod
    def per_sample_loss(self, output: Any, targets: Any) -> torch.Tensor:
        """The target loss of each sample, ``[B]``: what the LPM learns to rank."""

    @abstractmethod
    def metrics(self, outputs: Sequence[Any], targets: Sequence[Any]) -> dict[str, float]:
        """The task's metrics (``metric_name`` among them) over a whole evaluation set given
        batch by batch; every one goes into the results."""

    def predict_labels(self, output: Any) -> list[Any]:
        """The model's label for each sample of a batch, in the form ``collate_targets``
        takes (JSON-able): what an annotator is shown as the model's guess. Optional."""
        raise NotImplementedError(f"{type(self).__name__} does not predict labels")

    def probabilities(self, output: Any) -> torch.Tensor:
        """Class probabilities ``[B, C]``, for uncertainty strategies."""
        raise NotImplementedError(f"{type(self).__name__} has no class probabilities")

    def uncertainty(self, output: Any) -> torch.Tensor:
        """How unsure the model is of each sample, ``[B]``, higher = less sure: the entropy of
        the class probabilities where a task has them; a task without (detection) may define
        its own score, which entropy sampling then uses. In float64, as entropy sampling
        computed it before the hook existed: fewer near-ties decided by rounding."""
        return entropy(self.probabilities(output).double())

    @property
    def has_probabilities(self) -> bool:
        """Whether ``probabilities`` is implemented: strategies that need it are refused
        up front for a task without (see ``QueryStrategy.needs_probabilities``)."""
        return type(self).probabilities is not TaskAdapter.probabilities

    @property
    def has_uncertainty(self) -> bool:
        """Whether ``uncertainty`` can be computed (``QueryStrategy.needs_uncertainty``)."""
        return self.has_probabilities or type(self).uncertainty is not TaskAdapter.uncertainty
