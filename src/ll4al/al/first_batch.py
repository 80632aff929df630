"""The first labels, chosen before any model exists: at random, or typical of the pool.

Why typical: with a few labels, a model learns most from samples that stand for many others,
and least from outliers (Hacohen et al., ICML 2022, "Active Learning on a Budget": TypiClust).
The pool is clustered on the encoder's embeddings into (labels so far + K) clusters; from each
of the K largest clusters without a label, the sample with the densest neighbourhood is taken.

scikit-activeml's ``TypiClust`` does this on NumPy embeddings and is used as it is, with
k-means (mini-batch k-means above ``_FULL_KMEANS_CLUSTERS`` clusters, as the paper does for
large budgets, so a first batch of hundreds on 50,000 images takes seconds). ProbCover
(Yehuda et al., 2022) was left out: scikit-activeml's version holds an N x N distance matrix,
20 GB at 50,000 images.
"""

from __future__ import annotations

import numpy as np

from ll4al.al.pool import Pool
from ll4al.al.seeds import INIT, derived_seed, random_draw
from ll4al.config import FIRST_BATCH_RULES

#: Above this many clusters, k-means runs in mini-batches.
_FULL_KMEANS_CLUSTERS = 100
#: Neighbours that measure a sample's typicality (the paper's 20).
_NEIGHBOURS = 20


def normalised(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length: TypiClust clusters self-supervised embeddings by angle."""
    array = np.asarray(embeddings, dtype=np.float32)
    return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)


#: Recent draws by (embeddings' id, labeled set, count, seed), with the embeddings they were
#: drawn on (held, so the id cannot be reused): every strategy of a benchmark seed starts from
#: the same first batch, which is clustered once.
_RECENT: dict[tuple[int, bytes, int, int], tuple[np.ndarray, np.ndarray]] = {}


def typical_draw(embeddings: np.ndarray, pool: Pool, count: int, seed: int) -> np.ndarray:
    """``count`` unlabeled indices chosen by TypiClust on ``embeddings`` (one row per pool
    sample), most typical of the largest uncovered cluster first; seeded by ``seed`` and the
    number of labels so far, like ``random_draw``."""
    if len(embeddings) != pool.size:
        raise ValueError(f"{len(embeddings)} embeddings for a pool of {pool.size}")
    key = (id(embeddings), np.sort(pool.labeled).tobytes(), count, seed)
    if key not in _RECENT:
        _RECENT.clear()
        _RECENT[key] = (embeddings, _typiclust(embeddings, pool, count, seed))
    return _RECENT[key][1].copy()


def _typiclust(embeddings: np.ndarray, pool: Pool, count: int, seed: int) -> np.ndarray:
    from skactiveml.pool import TypiClust
    from sklearn.cluster import KMeans, MiniBatchKMeans

    clusters = len(pool.labeled) + count
    algorithm, options = (
        (KMeans, {"n_init": 1})
        if clusters <= _FULL_KMEANS_CLUSTERS
        else (MiniBatchKMeans, {"n_init": 3, "batch_size": 4096})
    )
    y = np.full(pool.size, np.nan)
    y[pool.labeled] = 0.0  # TypiClust only asks which samples are labeled
    strategy = TypiClust(
        k=_NEIGHBOURS,
        cluster_algo=algorithm,
        cluster_algo_dict=options,
        random_state=derived_seed(seed, INIT, len(pool.labeled)) % 2**32,
    )
    picked = strategy.query(normalised(embeddings), y, candidates=pool.unlabeled, batch_size=count)
    return np.asarray(picked, dtype=np.int64)


def first_draw(
    rule: str, pool: Pool, count: int, seed: int, embeddings: np.ndarray | None = None
) -> np.ndarray:
    """The first labels by ``rule`` (``FIRST_BATCH_RULES``); ``typical`` needs embeddings."""
    if rule == "random":
        return random_draw(pool, count, seed)
    if rule == "typical":
        if embeddings is None:
            raise ValueError("a typical first batch needs an encoder's embeddings")
        return typical_draw(embeddings, pool, count, seed)
    raise ValueError(f"unknown first-batch rule {rule!r}; choose from {FIRST_BATCH_RULES}")
