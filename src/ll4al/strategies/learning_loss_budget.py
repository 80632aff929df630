"""Budget-aware Learning Loss: typical samples while the LPM cannot rank yet, then its losses.

Why: with few labels the LPM is a poor ranker, and "highest loss" then means "outlier or
confusable class", which is the wrong thing to buy first. In that low-budget regime labels are
worth most on typical, diverse samples (TypiClust); once the budget grows, uncertainty-like
picks win (TCM, SelectAL). So this strategy has two modes:

- ``typical`` (TypiClust on the network's own embedding; ``typiclust``): k-means on the
  embedding of labeled + candidates with ``labeled + K`` clusters (at most ``max_clusters``,
  TypiClust's 500), clusters ordered by fewest labeled members, then largest (clusters of at
  most ``min_cluster_size`` members, likely outliers, go last rather than being dropped as in
  TypiClust, so K picks always exist); each cluster in that order gives its most typical
  candidate, typicality = 1 / mean distance to its 20 nearest neighbours within the cluster
  (labeled members count as neighbours: they are data too); when K exceeds the usable
  clusters, further rounds take each cluster's next most typical candidate. Deterministic
  given ``q.rng`` (the k-means seed).
- ``loss-balanced``: exactly ``learning-loss-balanced`` (top predicted losses dealt
  round-robin over the predicted classes).

**The switch rule** (stateless: a function of the query's own inputs, so a resumed run
decides the same way): ``loss-balanced`` when both

1. ``labeled_per_class = len(labeled) / C >= min_labeled_per_class`` (default 20), C the
   number of classes (the width of the class probabilities) or, for a task without them,
   the pseudo-classes ``learning-loss-balanced`` would use (``ceil(sqrt(K))``); and
2. ``lpm_agreement >= min_lpm_agreement`` (default 0.55), where ``lpm_agreement`` is the
   share of candidate pairs that the predicted loss orders like the model's own uncertainty
   (``ranking_accuracy`` against the task's uncertainty score; for classification the
   entropy, which is the model's expected cross-entropy under its own predictions), on at
   most 2,000 evenly spaced candidates. An LPM that has learned nothing scores about 0.5
   there, a collapsed one (constant output) 0; 0.55 means "clearly above chance". Skipped
   (None) for a task without an uncertainty score (keypoints) or when the uncertainty is
   constant.

Otherwise ``typical``. The record of each cycle gets ``query_mode``,
``query_labeled_per_class`` and ``query_lpm_agreement`` (``QueryStrategy.last_query_info``).

Why not the LPM's ranking accuracy on the labeled samples' true losses: (a) a query is not
given labels (``QueryContext`` holds indices; a labeling project's labels live in its
store), and (b) it would not be a fair signal anyway: the network was trained to fit exactly
those labels, so their losses are near zero and squeezed, and the LPM was trained to rank
exactly those pairs. In-sample accuracy overstates how it ranks unseen candidates, most of all
at small budgets where memorising is easiest, so the rule would switch too early. A
held-out labeled slice would have to be kept out of training (not ours to change), and the
evaluation set's ranking accuracy is the test set. Hence two label-free proxies: the budget
per class, which the held-out ranking accuracy rises with, and which is the axis TypiClust's
low/high-budget regimes are drawn on; and the agreement, a necessary (not sufficient) check
that the LPM ranks anything at all. Both thresholds are constructor parameters, to be chosen
on a validation split (``data.validation``: each record then holds the proxy next to the
held-out ``ranking_accuracy``).

Reads: the LPM's predicted loss, the embedding and (where the task has them) the class
probabilities and uncertainty of the candidates in one pass, plus the labeled samples'
embedding in ``typical`` mode.

References: Hacohen et al., "Active Learning on a Budget" (TypiClust), ICML 2022; Doucet et
al., TCM, 2024; SelectAL, 2023. Measured: ``benchmarks/results/*-budget/README.md``.
"""

from __future__ import annotations

import numpy as np
import torch

from ll4al.models.losses import ranking_accuracy
from ll4al.strategies.base import QueryContext
from ll4al.strategies.learning_loss_balanced import LearningLossBalancedStrategy, kmeans_labels

#: The agreement is measured on at most this many candidates, evenly spaced.
AGREEMENT_SAMPLE = 2000


def typicality(points: np.ndarray, k_nn: int = 20) -> np.ndarray:
    """1 / (mean distance to the ``k_nn`` nearest other points + 1e-5) of each row.

    As in TypiClust, a cluster of m < 2 * k_nn points uses its m // 2 nearest neighbours;
    a lone point has typicality 0.
    """
    neighbours = min(k_nn, len(points) // 2)
    if neighbours == 0:
        return np.zeros(len(points))
    from sklearn.neighbors import NearestNeighbors  # on use: scikit-learn is slow to import

    index = NearestNeighbors(n_neighbors=neighbours + 1).fit(points)
    distances, _ = index.kneighbors(points)  # column 0: the point itself (or a twin, also 0)
    return 1.0 / (distances[:, 1:].mean(axis=1) + 1e-5)


def typiclust(
    features: np.ndarray,
    labeled: np.ndarray,
    k: int,
    rng: np.random.Generator,
    k_nn: int = 20,
    max_clusters: int = 500,
    min_cluster_size: int = 5,
) -> np.ndarray:
    """K row positions of ``features`` outside ``labeled`` (a boolean mask), TypiClust style.

    Clusters (``labeled + K`` of them, at most ``max_clusters``) are visited in order: those
    larger than ``min_cluster_size`` first, then fewest labeled members, then largest; each
    gives its most typical unlabeled member, then, if picks remain, its next most typical,
    round by round. Returned in pick order.
    """
    clusters = kmeans_labels(features, min(int(labeled.sum()) + k, max_clusters), rng)
    ids, sizes = np.unique(clusters, return_counts=True)
    covered = np.bincount(clusters[labeled], minlength=ids.max() + 1)[ids]
    order = ids[np.lexsort((ids, -sizes, covered, sizes <= min_cluster_size))]
    members = {int(c): np.flatnonzero(clusters == c) for c in order}
    ranked: dict[int, np.ndarray] = {}  # each cluster's unlabeled members, most typical first
    picked: list[int] = []
    depth = 0
    while len(picked) < k:
        for c in members:
            if c not in ranked:
                rows = members[c]
                scores = typicality(features[rows], k_nn)
                rows, scores = rows[~labeled[rows]], scores[~labeled[rows]]
                ranked[c] = rows[np.argsort(-scores, kind="stable")]
            if depth < len(ranked[c]):
                picked.append(int(ranked[c][depth]))
                if len(picked) == k:
                    break
        depth += 1
    return np.asarray(picked, dtype=np.int64)


def lpm_agreement(predicted: torch.Tensor, uncertainty: torch.Tensor) -> float | None:
    """Share of pairs the predicted loss orders like the uncertainty (ties in the uncertainty
    left out) on at most ``AGREEMENT_SAMPLE`` evenly spaced samples; None if it is constant."""
    n = len(predicted)
    rows = np.unique(np.linspace(0, n - 1, min(n, AGREEMENT_SAMPLE)).round().astype(np.int64))
    rows = torch.as_tensor(rows)
    try:
        return ranking_accuracy(predicted[rows], uncertainty[rows])
    except ValueError:  # every uncertainty tied (or a single sample): no signal
        return None


class LearningLossBudgetStrategy(LearningLossBalancedStrategy):
    """TypiClust-style typical samples while the budget per class is small or the LPM ranks no
    better than chance, then learning-loss-balanced; the mode is recorded per cycle."""

    name = "learning-loss-budget"

    def __init__(
        self,
        min_labeled_per_class: float = 20.0,
        min_lpm_agreement: float = 0.55,
        clusters: int | None = None,
        k_nn: int = 20,
        max_clusters: int = 500,
        min_cluster_size: int = 5,
    ) -> None:
        super().__init__(clusters)
        if min_labeled_per_class < 0:
            raise ValueError(f"min_labeled_per_class must be >= 0, got {min_labeled_per_class}")
        if not 0 <= min_lpm_agreement <= 1:
            raise ValueError(f"min_lpm_agreement must be in [0, 1], got {min_lpm_agreement}")
        if k_nn < 1 or max_clusters < 1 or min_cluster_size < 0:
            raise ValueError("k_nn and max_clusters must be >= 1, min_cluster_size >= 0")
        self.min_labeled_per_class = min_labeled_per_class
        self.min_lpm_agreement = min_lpm_agreement
        self.k_nn = k_nn
        self.max_clusters = max_clusters
        self.min_cluster_size = min_cluster_size

    def lpm_ready(self, labeled_per_class: float, agreement: float | None) -> bool:
        """The switch rule: enough labels per class, and (where measured) an LPM that orders
        the candidates like the model's uncertainty clearly more often than chance."""
        if labeled_per_class < self.min_labeled_per_class:
            return False
        return agreement is None or agreement >= self.min_lpm_agreement

    def select(self, q: QueryContext) -> np.ndarray:
        task = q.learner.task
        with_probs, with_uncertainty = task.has_probabilities, task.has_uncertainty
        want = ["predicted_loss", "embedding"]
        want += ["probs"] * with_probs + ["uncertainty"] * with_uncertainty
        out = q.learner.infer(q.data, q.candidates, want)
        per_class = len(q.labeled) / self.group_count(q.k, out, with_probs)
        agreement = (
            lpm_agreement(out["predicted_loss"], out["uncertainty"]) if with_uncertainty else None
        )
        signal = {
            "labeled_per_class": round(per_class, 3),
            "lpm_agreement": None if agreement is None else round(agreement, 4),
        }
        if self.lpm_ready(per_class, agreement):
            picked = self.pick(q, out, with_probs)
            self.last_query_info.update(signal)
            return picked
        features = out["embedding"].double().numpy()
        if len(q.labeled):
            labeled = q.learner.infer(q.data, q.labeled, ["embedding"])["embedding"]
            features = np.concatenate([features, labeled.double().numpy()])
        is_labeled = np.arange(len(features)) >= len(q.candidates)
        positions = typiclust(
            features,
            is_labeled,
            q.k,
            q.rng,
            self.k_nn,
            self.max_clusters,
            self.min_cluster_size,
        )
        self.last_query_info = {"mode": "typical", **signal}
        return q.candidates[positions]
