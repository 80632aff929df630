"""Learning Loss with class-balanced batches: the top predicted losses of every class in turn.

Why: plain learning-loss takes the top K by predicted loss, and those bunch up in the classes
the model confuses, so its batches skew far from the pool's classes and it can end below
random. Class-balanced selection makes the same point: what a batch covers matters as much as
how hard each sample is.

The rule: group the candidates by the model's predicted class (argmax of its probabilities),
then deal K picks round-robin: round r takes the r-th highest predicted loss of every group
that still has one, those in the order of their predicted loss. That gives the quotas:

- **uniform over predicted classes**, K // C each, and the K mod C leftover to the classes
  whose next candidate has the highest predicted loss. Not proportional to the predicted
  class distribution: a weak model's predictions are themselves skewed (confusable classes
  are absorbed into the ones it is surer of), so proportional quotas would hand back much of
  the skew this strategy exists to remove; and on a class-imbalanced pool, extra labels for
  rare classes are usually what labeling is for (Bengar et al.).
- **capped by what each class has**: a class with fewer candidates than its share gives
  them all, and the rest of its share goes to the others in the following rounds.
- **highest predicted loss first within each class**: the LPM still decides which samples,
  only no longer which classes. The result is ordered round by round, so the first C picks
  are each class's most wanted sample.

Tasks without class probabilities (keypoints, detection: ``task.has_probabilities`` is
False) have no predicted class; the groups are then ``C`` k-means clusters of the candidates'
embedding, by default ``C = ceil(sqrt(K))``: the geometric mean of the two extremes, one
group (plain top-K by predicted loss, no coverage) and K groups (one pick per cluster,
coverage only, the LPM choosing just within each cluster), so coverage and predicted loss
get an equal say (K = 100 gives 10 groups of 10 picks, K = 40 gives 7 groups). The k-means
seed comes from the query's ``rng``; the classification path uses no randomness at all.

Reads: the LPM's predicted loss of each candidate, and their class probabilities (or, where
the task has none, their embedding); one inference pass over the candidates.

References: Yoo & Kweon, "Learning Loss for Active Learning", CVPR 2019; Bengar et al.,
"Class-Balanced Active Learning for Image Classification", WACV 2022. Measured:
``benchmarks/results/cifar10-cpu/README.md`` and the ``*-balanced`` folders beside it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ll4al.strategies.base import QueryContext, QueryStrategy


def round_robin(groups: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """K positions dealt round-robin over ``groups``, highest ``score`` first in each.

    Round r holds the r-th highest-scoring position of every group that has one, ordered by
    score (ties: lower position first); rounds follow each other. So each group gets
    ``k // n_groups`` or one more, unless it runs out, and then the others fill in.
    """
    groups = np.asarray(groups)
    scores = np.asarray(scores, dtype=np.float64)
    positions = np.arange(len(groups))
    by_group = np.lexsort((positions, -scores, groups))  # group, then score high to low
    sorted_groups = groups[by_group]
    rank = np.empty(len(groups), dtype=np.int64)
    rank[by_group] = positions - np.searchsorted(sorted_groups, sorted_groups, side="left")
    return np.lexsort((positions, -scores, rank))[:k]


def default_clusters(k: int) -> int:
    """``ceil(sqrt(K))`` pseudo-classes: between top-K (one group) and one pick per group."""
    return max(1, math.ceil(math.sqrt(k)))


def kmeans_labels(points: np.ndarray, clusters: int, rng: np.random.Generator) -> np.ndarray:
    """k-means cluster ids of ``points`` (at most ``clusters``, never more than the points),
    seeded from ``rng``. Tied points that leave clusters empty only warn scikit-learn, which
    is silenced here: empty clusters simply get no picks."""
    clusters = max(1, min(clusters, len(points)))
    from sklearn.cluster import KMeans  # on use: scikit-learn takes seconds to import

    seed = int(rng.integers(2**31 - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on tied points
        km = KMeans(n_clusters=clusters, n_init=1, random_state=seed)
        return km.fit_predict(np.asarray(points, dtype=np.float64))


class LearningLossBalancedStrategy(QueryStrategy):
    """Top predicted losses dealt round-robin over the model's predicted classes (embedding
    clusters where the task has no classes), so no class takes the whole batch."""

    name = "learning-loss-balanced"
    needs_loss_prediction = True

    def __init__(self, clusters: int | None = None) -> None:
        if clusters is not None and clusters < 1:
            raise ValueError(f"clusters must be >= 1, got {clusters}")
        #: Pseudo-classes for tasks without class probabilities; None: ceil(sqrt(K)).
        self.clusters = clusters

    def group_count(self, k: int, out: dict, with_probs: bool) -> int:
        """How many groups a batch is balanced over: the classes, or the pseudo-classes."""
        if with_probs:
            return int(out["probs"].shape[1])
        return self.clusters or default_clusters(k)

    def groups(self, q: QueryContext, out: dict, with_probs: bool) -> tuple[np.ndarray, str]:
        """Each candidate's group (predicted class or embedding cluster), and which it is."""
        if with_probs:
            return out["probs"].argmax(dim=1).numpy(), "predicted-classes"
        count = self.group_count(q.k, out, with_probs)
        return kmeans_labels(out["embedding"].double().numpy(), count, q.rng), "embedding-clusters"

    def pick(self, q: QueryContext, out: dict, with_probs: bool) -> np.ndarray:
        """The round-robin picks from an inference result over the candidates."""
        groups, kind = self.groups(q, out, with_probs)
        self.last_query_info = {"mode": "loss-balanced", "groups": kind}
        return q.candidates[round_robin(groups, out["predicted_loss"].numpy(), q.k)]

    def select(self, q: QueryContext) -> np.ndarray:
        with_probs = q.learner.task.has_probabilities
        want = ["predicted_loss", "probs" if with_probs else "embedding"]
        return self.pick(q, q.learner.infer(q.data, q.candidates, want), with_probs)
