"""Learning Loss with a diverse batch: high predicted loss *and* spread over feature space.

Why: plain learning-loss takes the top K by predicted loss. The LPM ranks pairs only
moderately well, and the samples it ranks highest are alike (the same confusable classes,
the same hard backgrounds), so a top-K batch spends much of its budget on near-duplicates and
leaves whole classes out. This is the paper's own stated limit (no diversity or density in
the batch). The fix keeps what the LPM is good at, telling likely high-loss samples from
likely easy ones, and stops asking it for the fine order among the hard ones, which it gets
wrong most often:

1. score the candidate subset by predicted loss and keep a shortlist of the top
   ``shortlist_factor * K`` (the easy tail is dropped);
2. pick K of the shortlist by k-means++ seeding on the target network's embedding, with each
   sample weighted by its predicted-loss rank (rank, not value: the LPM learns a ranking and
   its scale is arbitrary, even negative). k-means++ draws the next sample with probability
   proportional to weight x squared distance to the samples already picked, so a batch is
   high-loss and covers the shortlist's clusters instead of piling into one.

One inference pass gives both the predicted losses and the embeddings, so the query costs
about what plain learning-loss costs plus the seeding (``kmeans_pp``, scikit-learn's
k-means++; tied features that would repeat a pick are filled up by predicted loss).

References: Yoo & Kweon, CVPR 2019; Arthur & Vassilvitskii, "k-means++", SODA 2007.
Measured: ``benchmarks/results/cifar10-cpu/README.md``.
"""

from __future__ import annotations

import numpy as np

from ll4al.strategies.base import QueryContext, QueryStrategy, kmeans_pp, top_k


class LearningLossDiverseStrategy(QueryStrategy):
    """Top ``shortlist_factor * K`` by predicted loss, then K of them by loss-weighted
    k-means++ on the embedding."""

    name = "learning-loss-diverse"
    needs_loss_prediction = True

    def __init__(self, shortlist_factor: float = 2.0) -> None:
        if shortlist_factor < 1:
            raise ValueError(f"shortlist_factor must be >= 1, got {shortlist_factor}")
        self.shortlist_factor = shortlist_factor

    def select(self, q: QueryContext) -> np.ndarray:
        out = q.learner.infer(q.data, q.candidates, ["predicted_loss", "embedding"])
        size = min(len(q.candidates), int(np.ceil(self.shortlist_factor * q.k)))
        positions = np.arange(len(q.candidates))
        shortlist = top_k(positions, out["predicted_loss"].numpy(), size)  # highest first
        if size == q.k:
            return q.candidates[shortlist]
        features = out["embedding"][shortlist].double().numpy()
        weights = (size - np.arange(size)) / size  # rank weights: 1 for the top, 1/size last
        return q.candidates[shortlist[kmeans_pp(features, q.k, q.rng, weights=weights)]]
