"""Training the target network jointly with its LPM, and evaluating both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from ll4al.config import TrainSettings
from ll4al.distributed import World, rank_pairs_shard, world
from ll4al.models.learner import Learner, PoolData
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

    With an LPM the objective is ``mean(L_target) + lpm_weight * ranking_loss`` (of kind
    ``rank_loss`` over ``rank_pairs``); from ``stop_gradient_epoch`` on, the LPM's gradient no
    longer reaches the target network.
    """
    if len(indices) < 2:
        raise ValueError(f"need at least 2 labeled samples to train, got {len(indices)}")
    model, task = learner.model, learner.task
    check_augmentation(settings.augment, task)
    current = world()
    forward_module = _data_parallel(learner, settings, current)
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
            mine = rank_pairs_shard(len(positions), current)
            if mine is None:  # batch norm and pairs need two samples (per rank)
                continue
            if current.distributed and settings.augment == "none":
                positions = positions[mine]  # nothing random to keep in step: load only ours
            inputs = data.inputs(indices[positions])
            targets = task.collate_targets([labels[p] for p in positions], learner.device)
            if settings.augment != "none":
                # the whole global batch on every rank, so the generator's stream, and with it
                # every later batch, is the single process's
                inputs, targets = task.augment(inputs, targets, generator)
                if current.distributed:
                    inputs, targets = inputs[mine], _take(targets, mine)
            output, predicted = learner.forward(learner.to_device(inputs), forward_module)
            losses = task.per_sample_loss(output, targets)
            if predicted is None:
                loss = losses.mean()
            else:
                loss = joint_loss(
                    losses,
                    predicted,
                    settings.lpm_weight,
                    settings.margin,
                    settings.rank_pairs,
                    settings.rank_loss,
                )
            value = float(loss.detach())
            if not np.isfinite(value):
                raise NonFiniteLossError(
                    f"non-finite training loss ({value}) at epoch {epoch + 1}/{settings.epochs}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += value * len(inputs)
            seen += len(inputs)
        scheduler.step()
        last = {"loss": total / max(seen, 1)}
        bar.set_postfix(loss=f"{last['loss']:.3f}")
    return last


def _data_parallel(learner: Learner, settings: TrainSettings, current: World) -> nn.Module | None:
    """Under torchrun, DDP around the learner's model (the LPM included), which every rank
    starts with the same weights (same seed); None in a single process."""
    if not current.distributed:
        return None
    if settings.sync_batchnorm:
        learner.model = nn.SyncBatchNorm.convert_sync_batchnorm(learner.model)
    device_ids = [learner.device.index] if learner.device.type == "cuda" else None
    return DistributedDataParallel(learner.model, device_ids=device_ids)


def _take(targets: Any, positions: np.ndarray) -> Any:
    """The targets at ``positions``: a tensor's rows, or a list's items (detection)."""
    if isinstance(targets, torch.Tensor):
        return targets[torch.as_tensor(positions, device=targets.device)]
    return [targets[i] for i in positions]


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
