"""The loss-oracle diagnostic (``benchmarks/results/cifar10-frozen/validation/loss_oracle.py``):
its strategies pick by the true loss they claim to, through the query contract."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from ll4al.strategies import get_strategy

from ..conftest import make_images
from ..helpers import tiny_recipe

SCRIPT = (
    Path(__file__).resolve().parents[2]
    / "benchmarks/results/cifar10-frozen/validation/loss_oracle.py"
)


@pytest.fixture
def oracle(monkeypatch):
    """The script as a module, its strategies registered (undone after the test)."""
    spec = importlib.util.spec_from_file_location("loss_oracle", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from ll4al import strategies

    for cls in (module.LossOracle, module.LossOracleBalanced):
        monkeypatch.setitem(strategies.STRATEGIES, cls.name, cls)
    return module


def test_the_oracle_picks_the_highest_lowest_and_median_true_losses(oracle):
    data = make_images(n=64)
    oracle.POOL_TARGETS = np.asarray(data.targets)
    torch.manual_seed(0)
    learner = tiny_recipe(data).build(False)
    learner.model.eval()  # as the oracle scores: batch norm on its running statistics
    candidates = np.arange(8, 64)
    with torch.no_grad():
        output, _ = learner.forward(data.inputs(candidates))
        targets = learner.task.collate_targets(data.targets[candidates].tolist(), learner.device)
        losses = learner.task.per_sample_loss(output, targets).numpy()
    order = candidates[np.argsort(-losses, kind="stable")]
    k = 5

    def pick(spec: str) -> np.ndarray:
        rng = np.random.default_rng(0)
        return get_strategy(spec).query(learner, data, np.arange(8), candidates, k, rng)

    assert set(pick("loss-oracle")) == set(order[:k])
    assert set(pick("loss-oracle(quantile=0.0)")) == set(order[-k:])
    middle = set(pick("loss-oracle(quantile=0.5)"))
    assert middle.isdisjoint(order[:20]) and middle.isdisjoint(order[-20:])
    balanced = pick("loss-oracle-balanced")
    assert len(set(balanced)) == k and balanced[0] == order[0]  # the top loss leads
