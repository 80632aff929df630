"""Run under ``torchrun --nproc-per-node 2`` (gloo, CPU) by tests/test_distributed.py.

Each check computes the same thing twice: sharded over the ranks, and, on rank 0 only, as one
process would (``ll4al.distributed.world`` patched to a single process); rank 0 writes both
to ``OUT/<check>.json`` for the test to compare.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

import ll4al.al.session as session_module
import ll4al.al.training as training_module
import ll4al.models.learner as learner_module
from ll4al.al.training import train
from ll4al.config import TrainSettings
from ll4al.data.arrays import ArrayDataset
from ll4al.distributed import World, finish_distributed, init_distributed, world
from ll4al.models.learner import Learner
from ll4al.models.lpm import LearningLoss
from ll4al.strategies import get_strategy
from ll4al.tasks import ClassificationTask


@contextmanager
def single_process():
    """This rank computes as if it were alone (no collectives)."""
    modules = (learner_module, session_module, training_module)
    saved = [m.world for m in modules]
    for m in modules:
        m.world = World
    try:
        yield
    finally:
        for m, w in zip(modules, saved, strict=True):
            m.world = w


def pool(n: int) -> ArrayDataset:
    gen = torch.Generator().manual_seed(0)
    targets = np.arange(n) % 4
    images = torch.randint(0, 255, (n, 3, 8, 8), generator=gen, dtype=torch.uint8)
    return ArrayDataset(images, targets, (0.5,) * 3, (0.25,) * 3)


def net(batch_norm: bool) -> nn.Module:
    norm = nn.BatchNorm2d(8) if batch_norm else nn.Identity()
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        norm,
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    )


def learner_for(data: ArrayDataset, batch_norm: bool = True, batch_size: int = 64) -> Learner:
    torch.manual_seed(1)
    model = LearningLoss(net(batch_norm), ["2", "4"], hidden=8, example_input=data.inputs([0, 1]))
    return Learner(model, ClassificationTask(), torch.device("cpu"), "fp32", "6", batch_size)


def scoring(out: Path) -> None:
    data = pool(1001)  # not a multiple of the world size, nor of the batch size
    learner = learner_for(data)
    want = ["probs", "predicted_loss", "embedding", "uncertainty"]
    sharded = learner.infer(data, np.arange(1001), want)
    candidates, labeled = np.arange(50, 1001), np.arange(50)
    picks = {}
    for name in ("learning-loss", "core-set", "learning-loss-diverse", "badge"):
        rng = np.random.default_rng(7)
        picks[name] = get_strategy(name).query(learner, data, labeled, candidates, 20, rng)
    if world().is_main:
        with single_process():
            alone = learner.infer(data, np.arange(1001), want)
            alone_picks = {}
            for name in picks:
                rng = np.random.default_rng(7)
                strategy = get_strategy(name)
                alone_picks[name] = strategy.query(learner, data, labeled, candidates, 20, rng)
        result = {
            "equal": {k: bool(torch.equal(sharded[k], alone[k])) for k in want},
            "rows": len(sharded["probs"]),
            "picks_equal": {k: picks[k].tolist() == alone_picks[k].tolist() for k in picks},
        }
        (out / "scoring.json").write_text(json.dumps(result))


def training_step(out: Path) -> None:
    """One SGD step on a batch of 16 (8 per rank), LPM with its gradient into the target."""
    data = pool(16)
    labels = data.targets.tolist()
    settings = TrainSettings(
        epochs=1, batch_size=16, lr=0.1, milestones=[], stop_gradient_epoch=5, augment="crop-flip"
    )

    def trained() -> Learner:
        learner = learner_for(data, batch_norm=False)
        generator = torch.Generator().manual_seed(3)
        train(learner, data, np.arange(16), labels, settings, generator, progress=False)
        return learner

    learner = trained()
    if world().is_main:
        with single_process():
            alone = trained()
        params = dict(alone.model.named_parameters())
        differences = {
            name: float((p.detach() - params[name].detach()).abs().max())
            for name, p in learner.model.named_parameters()
        }
        moved = float(
            sum(
                (p.detach() - q.detach()).abs().sum()
                for p, q in zip(
                    learner.model.parameters(),
                    learner_for(data, False).model.parameters(),
                    strict=True,
                )
            )
        )
        (out / "training.json").write_text(json.dumps({"max_diff": differences, "moved": moved}))


if __name__ == "__main__":
    out = Path(sys.argv[2])
    init_distributed(torch.device("cpu"))
    {"scoring": scoring, "training": training_step}[sys.argv[1]](out)
    finish_distributed()  # rank 1 must not exit while rank 0 still computes alone
