"""A batch spread over groups (patients, series): ten adjacent CT slices of one scan are near
copies, and a batch of them teaches the model what one of them would.

``spread`` takes a strategy's ranking of more candidates than the batch needs and keeps, in
rank order, the best sample of each group, then the second best of each, and so on: a group
gets a second place only once every group among the candidates has one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np

SPREADS = ("none", "patient", "series")
#: How many candidates per batch place the strategy ranks before the batch is spread.
CANDIDATES_PER_PLACE = 4


def spread(ranked: Sequence[int], groups: Sequence[Hashable | None], k: int) -> np.ndarray:
    """The ``k`` samples of ``ranked`` (pool indices, most wanted first) taken round by round
    over their groups (``groups[index]``; None: a group of its own)."""
    seen: Counter = Counter()
    keyed = []
    for position, index in enumerate(ranked):
        group = groups[index]
        key = ("own", position) if group is None else ("group", group)
        keyed.append((seen[key], position, int(index)))
        seen[key] += 1
    return np.asarray([index for *_, index in sorted(keyed)[:k]], dtype=np.int64)
