"""Random sampling: the baseline every strategy must beat."""

from __future__ import annotations

import numpy as np

from ll4al.learner import Learner, PoolData
from ll4al.strategies.base import QueryStrategy


class RandomStrategy(QueryStrategy):
    """K candidates uniformly at random."""

    name = "random"

    def select(
        self,
        learner: Learner,
        data: PoolData,
        labeled: np.ndarray,
        candidates: np.ndarray,
        k: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        return rng.choice(candidates, size=k, replace=False)
