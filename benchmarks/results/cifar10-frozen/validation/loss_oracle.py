"""How far could a better loss predictor go on the frozen head? A loss oracle, on validation.

Why: on the frozen head every LPM strategy is at or below random, and the LPM ranks test-loss
pairs barely above chance (56-64 %). Before trying to rank better, this asks whether ranking
perfectly would pay: the same protocol (``cifar10-frozen`` with 5,000 of the pool held out,
seeds 0-2), with the LPM replaced by each candidate's *true* loss under the round's model,
read from the simulated oracle's labels. ``loss-oracle`` takes the top K (Learning Loss with a
perfect LPM; ``quantile=0.5`` the K around the median loss, ``quantile=0`` the easiest K),
``loss-oracle-balanced`` deals them round-robin over the predicted classes
(learning-loss-balanced with a perfect LPM). Random runs beside them with the same seeds, so
its curve must equal ``lpm-strategies-2.jsonl``'s: a check that the protocol is the same.

The oracle strategies exist only here: they read labels no project has.

    export LL4AL_DATA=../shared/data OMP_NUM_THREADS=1
    python benchmarks/results/cifar10-frozen/validation/loss_oracle.py --out runs/loss-oracle
    # -> runs/loss-oracle/results.jsonl, copied here as loss-oracle.jsonl
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from ll4al.config import load_config
from ll4al.data.registry import load_task_data
from ll4al.experiments.experiment import run_experiment
from ll4al.strategies import STRATEGIES, QueryContext, QueryStrategy, top_k
from ll4al.strategies.learning_loss_balanced import round_robin

#: The pool's labels, set once the data is loaded (the same hold-out the experiment takes).
POOL_TARGETS: np.ndarray | None = None


@torch.no_grad()
def true_losses(q: QueryContext) -> tuple[np.ndarray, np.ndarray]:
    """Each candidate's loss under the round's model, and its predicted class."""
    assert POOL_TARGETS is not None
    learner, losses, classes = q.learner, [], []
    learner.model.eval()
    for batch in learner.batches(q.candidates):
        output, _ = learner.forward(learner.to_device(q.data.inputs(batch)))
        targets = learner.task.collate_targets(POOL_TARGETS[batch].tolist(), learner.device)
        losses.append(learner.task.per_sample_loss(output, targets).float().cpu())
        classes.append(learner.task.probabilities(output).argmax(dim=1).cpu())
    return torch.cat(losses).numpy(), torch.cat(classes).numpy()


class LossOracle(QueryStrategy):
    """Top K by true loss (``quantile=1``): Learning Loss with a perfect loss predictor; or
    the K whose loss ranks nearest ``quantile`` of the candidates' (0: the easiest)."""

    name = "loss-oracle"

    def __init__(self, quantile: float = 1.0) -> None:
        self.quantile = quantile

    def select(self, q: QueryContext) -> np.ndarray:
        losses = true_losses(q)[0]
        rank = np.argsort(np.argsort(losses)) / max(len(losses) - 1, 1)  # 0 easiest, 1 hardest
        return top_k(q.candidates, -np.abs(rank - self.quantile), q.k)


class LossOracleBalanced(QueryStrategy):
    """True losses dealt round-robin over predicted classes: learning-loss-balanced with a
    perfect loss predictor."""

    name = "loss-oracle-balanced"

    def select(self, q: QueryContext) -> np.ndarray:
        losses, classes = true_losses(q)
        return q.candidates[round_robin(classes, losses, q.k)]


def main() -> None:
    global POOL_TARGETS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", default="[0,1,2]")
    args = parser.parse_args()
    for cls in (LossOracle, LossOracleBalanced):
        STRATEGIES[cls.name] = cls
    config = load_config(
        "cifar10-frozen",
        [
            "data.validation=5000",
            "strategies=[random,loss-oracle,loss-oracle-balanced,"
            "loss-oracle(quantile=0.5),loss-oracle(quantile=0.0)]",
            f"seeds={args.seeds}",
        ],
    )
    POOL_TARGETS = np.asarray(load_task_data(config.data, progress=False).train.targets)
    run_experiment(config, args.out, progress=False)


if __name__ == "__main__":
    main()
