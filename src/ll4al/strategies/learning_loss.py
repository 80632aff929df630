"""Learning Loss (Yoo & Kweon, 2019): label the samples whose predicted loss is highest."""

from __future__ import annotations

import numpy as np

from ll4al.learner import Learner, PoolData
from ll4al.strategies.base import QueryStrategy, top_k


class LearningLossStrategy(QueryStrategy):
    """Top-K by the LPM's predicted loss, scored in candidate order, highest first."""

    name = "learning-loss"
    needs_loss_prediction = True

    def select(
        self,
        learner: Learner,
        data: PoolData,
        labeled: np.ndarray,
        candidates: np.ndarray,
        k: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        predicted = learner.infer(data, candidates, ["predicted_loss"])["predicted_loss"]
        return top_k(candidates, predicted.numpy(), k)
