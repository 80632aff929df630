"""The query-strategy contract: given the model and the data, pick K pool indices to label."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ll4al.models.learner import Learner, PoolData
from ll4al.tasks import TaskAdapter


@dataclass(frozen=True)
class QueryContext:
    """One query's inputs, already validated: what a strategy's ``select`` works from."""

    learner: Learner
    data: PoolData
    labeled: np.ndarray
    candidates: np.ndarray
    k: int
    rng: np.random.Generator


class QueryStrategy(ABC):
    """One way of choosing the next samples to label.

    ``query`` receives the learner (model, LPM, task, device), the pool data, the labeled
    indices, the candidate indices (the random subset of the unlabeled pool) and K, and
    returns K distinct candidate indices, most wanted first. Rules shared by all strategies:
    K must be in ``1..len(candidates)`` (K equal to it returns every candidate), candidates
    must be distinct and unlabeled; anything else raises ``ValueError``. Randomness comes only
    from ``rng``, so a seed fixes the answer.
    """

    name: ClassVar[str]
    #: Whether the learner must carry a loss prediction module (trained jointly).
    needs_loss_prediction: ClassVar[bool] = False
    #: Whether it reads class probabilities, which only some tasks have
    #: (``TaskAdapter.has_probabilities``); a config pairing it with another task is refused.
    needs_probabilities: ClassVar[bool] = False
    #: Whether it reads a per-sample uncertainty score (``TaskAdapter.has_uncertainty``):
    #: class-probability entropy, or a task's own (detection).
    needs_uncertainty: ClassVar[bool] = False
    #: What the last ``select`` wants on the record of its cycle (e.g. ``{"mode": "typical"}``;
    #: JSON values). ``query`` empties it first thing, so it never describes an
    #: earlier query; the simulated run adds it to the cycle's record as ``query_<key>``.
    last_query_info: dict[str, Any] = {}

    @classmethod
    def unmet_needs(cls, task: TaskAdapter) -> list[str]:
        """What this strategy reads that ``task`` cannot give (empty: they fit)."""
        needs = []
        if cls.needs_probabilities and not task.has_probabilities:
            needs.append("class probabilities")
        if cls.needs_uncertainty and not task.has_uncertainty:
            needs.append("an uncertainty score")
        return needs

    def query(
        self,
        learner: Learner,
        data: PoolData,
        labeled: np.ndarray,
        candidates: np.ndarray,
        k: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        self.last_query_info = {}
        labeled = np.asarray(labeled, dtype=np.int64)
        candidates = np.asarray(candidates, dtype=np.int64)
        if len(candidates) == 0:
            raise ValueError("no candidates to choose from: the unlabeled pool is empty")
        if len(np.unique(candidates)) != len(candidates):
            raise ValueError("candidates contain duplicate indices")
        overlap = np.intersect1d(candidates, labeled)
        if len(overlap):
            raise ValueError(f"candidates include labeled indices: {overlap[:5].tolist()}")
        if not 1 <= k <= len(candidates):
            raise ValueError(
                f"cannot pick K={k} from {len(candidates)} candidates; "
                f"K must be between 1 and {len(candidates)}"
            )
        context = QueryContext(learner, data, labeled, candidates, k, rng)
        picked = np.asarray(self.select(context), dtype=np.int64)
        if len(picked) != k or len(np.unique(picked)) != k or not np.isin(picked, candidates).all():
            raise RuntimeError(f"{type(self).__name__} broke the query contract")
        return picked

    @abstractmethod
    def select(self, q: QueryContext) -> np.ndarray:
        """Pick ``q.k`` of ``q.candidates``."""


def top_k(candidates: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """The K candidates with the highest scores, highest first; ties keep candidate order."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return candidates[order[:k]]


def kmeans_pp(
    points: np.ndarray,
    k: int,
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
    local_trials: int | None = None,
) -> np.ndarray:
    """K distinct row positions of ``points`` by k-means++ seeding, in the order picked.

    Seeding is scikit-learn's ``kmeans_plusplus`` (``local_trials=1`` is the vanilla D^2
    sampling of Arthur & Vassilvitskii; ``None`` its greedy variant), seeded from ``rng``.
    Once every remaining point coincides with a picked one (tied or all-zero features), the
    D^2 distribution is all zeros and scikit-learn repeats picks; those are replaced by the
    unpicked positions in ascending order, so the answer always holds K distinct positions.
    """
    from sklearn.cluster import kmeans_plusplus  # on use: scikit-learn takes seconds to import

    seed = int(rng.integers(2**31 - 1))
    _, picked = kmeans_plusplus(
        points, k, sample_weight=weights, random_state=seed, n_local_trials=local_trials
    )
    kept = picked[np.sort(np.unique(picked, return_index=True)[1])]
    return np.concatenate([kept, np.setdiff1d(np.arange(len(points)), kept)])[:k]
