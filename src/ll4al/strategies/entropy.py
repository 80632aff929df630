"""Entropy sampling: label what the classifier is least sure of."""

from __future__ import annotations

import numpy as np

from ll4al.learner import Learner, PoolData
from ll4al.strategies.base import QueryStrategy, top_k


class EntropyStrategy(QueryStrategy):
    """Top-K by the entropy of the predicted class distribution."""

    name = "entropy"

    def select(
        self,
        learner: Learner,
        data: PoolData,
        labeled: np.ndarray,
        candidates: np.ndarray,
        k: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        probs = learner.infer(data, candidates, ["probs"])["probs"].double()
        entropy = -(probs * probs.clamp_min(1e-12).log()).sum(dim=1)
        return top_k(candidates, entropy.numpy(), k)
