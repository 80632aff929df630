"""Entropy sampling: label what the classifier is least sure of."""

from __future__ import annotations

import numpy as np
import torch

from ll4al.strategies.base import QueryContext, QueryStrategy, top_k


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """The entropy (in nats) of each distribution along the last dimension."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(dim=-1)


class EntropyStrategy(QueryStrategy):
    """Top-K by the entropy of the predicted class distribution."""

    name = "entropy"
    needs_probabilities = True

    def select(self, q: QueryContext) -> np.ndarray:
        probs = q.learner.infer(q.data, q.candidates, ["probs"])["probs"].double()
        return top_k(q.candidates, entropy(probs).numpy(), q.k)
