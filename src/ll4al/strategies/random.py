"""Random sampling: the baseline every strategy must beat."""

from __future__ import annotations

import numpy as np

from ll4al.strategies.base import QueryContext, QueryStrategy


class RandomStrategy(QueryStrategy):
    """K candidates uniformly at random."""

    name = "random"

    def select(self, q: QueryContext) -> np.ndarray:
        return q.rng.choice(q.candidates, size=q.k, replace=False)
