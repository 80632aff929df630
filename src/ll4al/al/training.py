"""Training the target network jointly with its LPM, and evaluating both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ll4al.al.learner import Learner, PoolData
from ll4al.config import TrainSettings
from ll4al.models.losses import joint_loss, ranking_accuracy
from ll4al.tasks import TaskAdapter


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss; the run stops instead of learning garbage."""


def check_augmentation(augment: str, task: TaskAdapter) -> None:
    """``augment`` must be ``none`` or the augmentation the task implements."""
    if augment not in ("none", task.augmentation):
        choices = " or ".join(repr(a) for a in (task.augmentation, "none") if a)
        raise ValueError(f"augment must be {choices} for {type(task).__name__}, got {augment!r}")


def train(
    learner: Learner,
    data: PoolData,
    indices: np.ndarray,
    labels: Sequence[Any],
    settings: TrainSettings,
    generator: torch.Generator,
    progress: bool = True,
    desc: str = "train",
) -> dict[str, float]:
    """Train ``learner.model`` from its current weights on ``data[indices]`` with ``labels``.

    With an LPM the objective is ``mean(L_target) + lpm_weight * ranking_loss``; from
    ``stop_gradient_epoch`` on, the LPM's gradient no longer reaches the target network.
    """
    if len(indices) < 2:
        raise ValueError(f"need at least 2 labeled samples to train, got {len(indices)}")
    model, task = learner.model, learner.task
    check_augmentation(settings.augment, task)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=settings.lr,
        momentum=settings.momentum,
        weight_decay=settings.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=settings.milestones, gamma=settings.gamma
    )
    indices = np.asarray(indices, dtype=np.int64)
    labels = list(labels)
    model.train()
    last = {"loss": float("nan")}
    bar = tqdm(range(settings.epochs), desc=desc, unit="ep", leave=False, disable=not progress)
    for epoch in bar:
        if learner.has_loss_prediction:
            model.stop_gradient = epoch >= settings.stop_gradient_epoch
        order = torch.randperm(len(indices), generator=generator).numpy()
        total, seen = 0.0, 0
        for start in range(0, len(order), settings.batch_size):
            positions = order[start : start + settings.batch_size]
            if len(positions) < 2:  # batch norm and pairs need two samples
                continue
            inputs = data.inputs(indices[positions])
            targets = task.collate_targets([labels[p] for p in positions], learner.device)
            if settings.augment != "none":
                inputs, targets = task.augment(inputs, targets, generator)
            output, predicted = learner.forward(learner.to_device(inputs))
            losses = task.per_sample_loss(output, targets)
            if predicted is None:
                loss = losses.mean()
            else:
                loss = joint_loss(losses, predicted, settings.lpm_weight, settings.margin)
            value = float(loss.detach())
            if not np.isfinite(value):
                raise NonFiniteLossError(
                    f"non-finite training loss ({value}) at epoch {epoch + 1}/{settings.epochs}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += value * len(positions)
            seen += len(positions)
        scheduler.step()
        last = {"loss": total / max(seen, 1)}
        bar.set_postfix(loss=f"{last['loss']:.3f}")
    return last


@torch.no_grad()
def evaluate(
    learner: Learner, data: PoolData, indices: np.ndarray, labels: Sequence[Any]
) -> dict[str, float]:
    """The task's metrics and mean loss on ``data[indices]`` and, with an LPM, its ranking
    accuracy there."""
    model, task = learner.model, learner.task
    was_training = model.training
    model.eval()
    outputs, targets, losses, predictions = [], [], [], []
    labels = list(labels)
    positions = np.arange(len(indices))
    try:
        for batch in learner.batches(positions):
            target = task.collate_targets([labels[p] for p in batch], learner.device)
            output, predicted = learner.forward(learner.to_device(data.inputs(indices[batch])))
            outputs.append(output)
            targets.append(target)
            losses.append(task.per_sample_loss(output, target).float().cpu())
            if predicted is not None:
                predictions.append(predicted.float().cpu())
    finally:
        model.train(was_training)
    result = {**task.metrics(outputs, targets), "test_loss": float(torch.cat(losses).mean())}
    if predictions:
        result["ranking_accuracy"] = ranking_accuracy(torch.cat(predictions), torch.cat(losses))
    return result
