"""Margin sampling: label what the classifier can barely tell from its runner-up."""

from __future__ import annotations

import numpy as np

from ll4al.strategies.base import QueryContext, QueryStrategy, top_k


class MarginStrategy(QueryStrategy):
    """Top-K by the smallest gap between the two most probable classes.

    Why: unlike entropy, the margin ignores the tail of unlikely classes and looks only at the
    decision the model is about to make, so it targets samples next to a decision boundary.
    """

    name = "margin"
    needs_probabilities = True

    def select(self, q: QueryContext) -> np.ndarray:
        probs = q.learner.infer(q.data, q.candidates, ["probs"])["probs"].double()
        best, runner_up = probs.topk(2, dim=1).values.unbind(dim=1)
        return top_k(q.candidates, (runner_up - best).numpy(), q.k)
