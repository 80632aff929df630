"""Entropy sampling: label what the model is least sure of."""

from __future__ import annotations

import numpy as np

from ll4al.strategies.base import QueryContext, QueryStrategy, top_k


class EntropyStrategy(QueryStrategy):
    """Top-K by the task's uncertainty score: for classification the entropy of the predicted
    class distribution, for detection that of its most confident anchors
    (``TaskAdapter.uncertainty``)."""

    name = "entropy"
    needs_uncertainty = True

    def select(self, q: QueryContext) -> np.ndarray:
        scores = q.learner.infer(q.data, q.candidates, ["uncertainty"])["uncertainty"].double()
        return top_k(q.candidates, scores.numpy(), q.k)
