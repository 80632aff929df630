"""BALD with MC dropout (Houlsby et al. 2011; Gal, Islam & Ghahramani 2017)."""

from __future__ import annotations

import numpy as np
import torch

from ll4al.models.learner import MCDropout
from ll4al.strategies.base import QueryContext, QueryStrategy, top_k
from ll4al.tasks import entropy


def bald_scores(probs: torch.Tensor) -> torch.Tensor:
    """Mutual information between label and weights from ``[T, B, C]`` sampled probabilities.

    ``H(mean_t p_t) - mean_t H(p_t)``: total uncertainty minus the part every sample of the
    weights agrees on, in nats, ``[B]``.
    """
    probs = probs.double()
    return entropy(probs.mean(dim=0)) - entropy(probs).mean(dim=0)


class BaldStrategy(QueryStrategy):
    """Top-K by BALD, the mutual information between a sample's label and the model weights,
    estimated from ``passes`` stochastic forward passes with dropout (MC dropout).

    Why: entropy is high both where the model lacks knowledge (epistemic) and where the label
    is ambiguous whatever the model (aleatoric); BALD keeps only the first, the disagreement
    between plausible models, which a label can actually reduce.

    Dropout: a target network with its own dropout modules runs them in train mode during the
    passes (everything else, batch norm included, in eval mode). A network trained without
    dropout, like our CIFAR ResNet-18, gets dropout at rate ``p`` on the output of the
    learner's ``embedding_layer`` (the input of the last linear layer) instead: a last-layer
    approximation of the posterior, Bayesian only in the final classifier, since dropout
    elsewhere would feed layers inputs they never saw in training. Either way, where all
    dropout runs after the ``embedding_layer`` (a dropout head, like the small CNN's), the
    network runs up to that layer once per batch and only the head runs ``passes`` times (on
    copies of the embedding, each masked independently), so 20 passes cost little more than
    one: the same estimator, since the network up to the embedding is deterministic. Where
    that split is not available (no ``embedding_layer``, dropout before it, or a head that
    reads more than the embedding) the network runs ``passes`` full times. The masks are
    seeded from the query's ``rng`` without touching the global torch RNG state.
    """

    name = "bald"
    needs_probabilities = True

    def __init__(self, passes: int = 20, p: float = 0.5) -> None:
        if passes < 1:
            raise ValueError(f"passes must be at least 1, got {passes}")
        if not 0 < p < 1:
            raise ValueError(f"dropout rate p must be in (0, 1), got {p}")
        self.passes = passes
        self.p = p

    def select(self, q: QueryContext) -> np.ndarray:
        mc = MCDropout(self.passes, self.p, seed=int(q.rng.integers(2**63 - 1)))
        probs = q.learner.infer(q.data, q.candidates, ["mc_probs"], mc)["mc_probs"]
        return top_k(q.candidates, bald_scores(probs).numpy(), q.k)
