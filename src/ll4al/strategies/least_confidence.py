"""Least-confidence sampling: label what the classifier's top guess is least sure of."""

from __future__ import annotations

import numpy as np

from ll4al.strategies.base import QueryContext, QueryStrategy, top_k


class LeastConfidenceStrategy(QueryStrategy):
    """Top-K by ``1 - max_c p(c | x)``.

    Why: the probability that the predicted label is wrong, by the model's own account; the
    simplest uncertainty score, blind to how the remaining mass is spread.
    """

    name = "least-confidence"
    needs_probabilities = True

    def select(self, q: QueryContext) -> np.ndarray:
        probs = q.learner.infer(q.data, q.candidates, ["probs"])["probs"].double()
        return top_k(q.candidates, (1 - probs.max(dim=1).values).numpy(), q.k)
