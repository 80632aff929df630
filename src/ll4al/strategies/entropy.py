"""Entropy sampling: label what the classifier is least sure of."""

from __future__ import annotations

import numpy as np

from ll4al.strategies.base import QueryContext, QueryStrategy, top_k


class EntropyStrategy(QueryStrategy):
    """Top-K by the entropy of the predicted class distribution."""

    name = "entropy"

    def select(self, q: QueryContext) -> np.ndarray:
        probs = q.learner.infer(q.data, q.candidates, ["probs"])["probs"].double()
        entropy = -(probs * probs.clamp_min(1e-12).log()).sum(dim=1)
        return top_k(q.candidates, entropy.numpy(), q.k)
