"""Learning Loss (Yoo & Kweon, 2019): label the samples whose predicted loss is highest."""

from __future__ import annotations

import numpy as np

from ll4al.strategies.base import QueryContext, QueryStrategy, top_k


class LearningLossStrategy(QueryStrategy):
    """Top-K by the LPM's predicted loss, scored in candidate order, highest first."""

    name = "learning-loss"
    needs_loss_prediction = True

    def select(self, q: QueryContext) -> np.ndarray:
        predicted = q.learner.infer(q.data, q.candidates, ["predicted_loss"])["predicted_loss"]
        return top_k(q.candidates, predicted.numpy(), q.k)
