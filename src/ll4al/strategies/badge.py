"""BADGE (Ash et al. 2020): uncertain and diverse batches from gradient embeddings."""

from __future__ import annotations

import numpy as np
import torch

from ll4al.strategies.base import QueryContext, QueryStrategy, kmeans_pp


def gradient_embedding(probs: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
    """``[N, C * D]`` gradients of the cross-entropy w.r.t. the last linear layer's weights.

    The label is the model's own guess ``yhat = argmax p``, so the gradient is
    ``(p - onehot(yhat)) ⊗ h`` with ``h`` the layer's input ``[N, D]``.
    """
    residual = probs.float().clone()
    residual[torch.arange(len(probs)), probs.argmax(dim=1)] -= 1
    return (residual[:, :, None] * embedding.float()[:, None, :]).flatten(1)


class BadgeStrategy(QueryStrategy):
    """K candidates by k-means++ seeding (D^2 sampling) on their gradient embeddings.

    Why: a gradient embedding's norm grows with the model's uncertainty (it vanishes when
    ``p`` is one-hot) and its direction encodes the features and the guessed class, so
    k-means++ seeding, which favours points far from those already picked, takes samples that
    are both uncertain and unlike each other, without a trade-off parameter. Candidates tied
    in embedding (confident samples all have zero gradients) never make a pick repeat.

    The learner's ``embedding_layer`` must be the input of the last linear layer (it is for
    every registered model).
    """

    name = "badge"
    needs_probabilities = True

    def select(self, q: QueryContext) -> np.ndarray:
        out = q.learner.infer(q.data, q.candidates, ["probs", "embedding"])
        grads = gradient_embedding(out["probs"], out["embedding"]).numpy()
        return q.candidates[kmeans_pp(grads, q.k, q.rng, local_trials=1)]
