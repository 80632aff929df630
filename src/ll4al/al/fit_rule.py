"""Training that fits the label count: the settings of a labeling project's first rounds.

Why: a protocol made for thousands of labels (batch 128, 30 epochs) gives a first round of 100
labels one optimizer step an epoch, 30 in all, and that barely trained model picks the next
batch and draws the curve the people paying for the labels see. The rule keeps the batch at a
share of the labels, so an epoch has several steps, and a floor on the optimizer steps; the
learning-rate drops stay at the same fraction of training. It was chosen on validation splits
(``benchmarks/first_rounds.py``, ``benchmarks/results/first-rounds/README.md``). With many
labels it changes nothing: the batch is capped by the configured one and the epochs never go
below the configured ones (batch 128, 30 epochs, 1,000 steps: unchanged from about 4,200
labels on, 34 steps an epoch).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ll4al.config import TrainSettings

#: The train settings the rule may choose; any other is always the configured value.
AUTO_KEYS = ("batch_size", "epochs", "milestones")


@dataclass(frozen=True)
class LabelRule:
    """``batch_share``: the batch is at most this share of the labels (and at least
    ``min_batch``, at most the configured batch); ``min_steps``: optimizer steps at least."""

    batch_share: float = 0.25
    min_batch: int = 4
    min_steps: int = 500

    def apply(
        self, train: TrainSettings, labels: int, auto: Collection[str] = AUTO_KEYS
    ) -> TrainSettings:
        """``train`` with the settings named in ``auto`` fitted to ``labels`` labels."""
        unknown = set(auto) - set(AUTO_KEYS)
        if unknown:
            raise ValueError(f"the rule cannot choose {sorted(unknown)}; only {list(AUTO_KEYS)}")
        batch = train.batch_size
        if "batch_size" in auto:
            batch = min(train.batch_size, max(self.min_batch, int(labels * self.batch_share)))
        epochs = train.epochs
        if "epochs" in auto:
            epochs = max(epochs, math.ceil(self.min_steps / steps_per_epoch(labels, batch)))
        milestones = train.milestones
        if "milestones" in auto and epochs != train.epochs:
            milestones = [round(m * epochs / train.epochs) for m in train.milestones]
        return dataclasses.replace(train, batch_size=batch, epochs=epochs, milestones=milestones)


#: Per task, chosen on validation splits (see the module's docstring).
RULES: dict[str, LabelRule] = {
    "classification": LabelRule(batch_share=0.25, min_batch=4, min_steps=1000),
    "detection": LabelRule(batch_share=0.25, min_batch=2, min_steps=200),
}


def steps_per_epoch(labels: int, batch: int) -> int:
    """Optimizer steps in one epoch: training skips a last batch of one sample."""
    return max(1, labels // batch + (1 if labels % batch >= 2 else 0))


def training_record(train: TrainSettings, labels: int) -> dict[str, Any]:
    """What a round was trained with, for its record: batch, steps, schedule, augmentation."""
    return {
        "labels": labels,
        "batch_size": train.batch_size,
        "epochs": train.epochs,
        "steps": train.epochs * steps_per_epoch(labels, train.batch_size),
        "lr": train.lr,
        "milestones": list(train.milestones),
        "gamma": train.gamma,
        "augment": train.augment,
    }
