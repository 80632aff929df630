"""Expected gradient length (Settles & Craven 2008), restricted to the last linear layer."""

from __future__ import annotations

import numpy as np
import torch

from ll4al.strategies.base import QueryContext, QueryStrategy, top_k


def expected_gradient_length(probs: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
    """``sum_y p_y ||grad_{W,b} CE(x, y)||`` for the last linear layer, ``[N]``, in closed form.

    For label ``y`` the gradient w.r.t. the weights is ``(p - e_y) ⊗ h`` and w.r.t. the bias
    ``p - e_y``, so its norm is ``||p - e_y|| * sqrt(||h||^2 + 1)``, with
    ``||p - e_y||^2 = ||p||^2 - 2 p_y + 1``.
    """
    probs, h = probs.double(), embedding.double()
    residual_norms = ((probs**2).sum(dim=1, keepdim=True) - 2 * probs + 1).clamp_min(0).sqrt()
    return (probs * residual_norms).sum(dim=1) * (h.pow(2).sum(dim=1) + 1).sqrt()


class ExpectedGradientLengthStrategy(QueryStrategy):
    """Top-K by the expected norm of the training gradient a label would cause.

    Why: the "expected model change" family labels the samples that would change the model
    most, expecting over the label with the model's own probabilities. This is the closed form
    for the last linear layer (weights and bias): one inference pass gives ``p`` and its input
    ``h``, and no per-class backward pass through the network is needed. The learner's
    ``embedding_layer`` must be that layer's input (it is for every registered model).
    """

    name = "egl"
    needs_probabilities = True

    def select(self, q: QueryContext) -> np.ndarray:
        out = q.learner.infer(q.data, q.candidates, ["probs", "embedding"])
        scores = expected_gradient_length(out["probs"], out["embedding"])
        return top_k(q.candidates, scores.numpy(), q.k)
