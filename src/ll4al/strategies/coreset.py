"""Core-set (Sener & Savarese, 2018): cover the feature space with K new centres."""

from __future__ import annotations

import numpy as np
import torch

from ll4al.strategies.base import QueryContext, QueryStrategy


def k_center_greedy(
    candidates: torch.Tensor, centres: torch.Tensor, k: int, first: int = 0, chunk: int = 1024
) -> list[int]:
    """Greedy k-centre: repeatedly take the candidate farthest from every centre so far.

    Returns positions into ``candidates``. With no initial centres the first pick is
    ``first``. Distances to the initial centres are computed in chunks of ``chunk`` centres,
    so 10^4 candidates need about 40 MB however many samples are labeled.
    """
    min_dist = torch.full((len(candidates),), float("inf"), dtype=candidates.dtype)
    for start in range(0, len(centres), chunk):
        block = torch.cdist(candidates, centres[start : start + chunk])
        min_dist = torch.minimum(min_dist, block.min(dim=1).values)
    picked: list[int] = []
    for _ in range(k):
        pos = first if not picked and len(centres) == 0 else int(torch.argmax(min_dist))
        picked.append(pos)
        dist = torch.cdist(candidates, candidates[pos : pos + 1]).squeeze(1)
        min_dist = torch.minimum(min_dist, dist)
        min_dist[pos] = -1.0  # never pick the same candidate twice
    return picked


class CoreSetStrategy(QueryStrategy):
    """k-centre greedy over the penultimate features of labeled samples and candidates."""

    name = "core-set"

    def select(self, q: QueryContext) -> np.ndarray:
        both = np.concatenate([q.candidates, q.labeled])  # one inference pass for both
        features = q.learner.infer(q.data, both, ["embedding"])["embedding"].float()
        cand, centres = features[: len(q.candidates)], features[len(q.candidates) :]
        first = int(q.rng.integers(len(q.candidates)))
        return q.candidates[k_center_greedy(cand, centres, q.k, first=first)]
