"""Every random choice of active learning, derived from (seed, purpose, round).

Why: a killed run resumes to the same labeled sets, all strategies of one seed share the
initial labels, each round's model initialisation and the order the pool is subsampled in,
and a labeling project reproduces the benchmark's picks from the same seed.
"""

from __future__ import annotations

import numpy as np

from ll4al.al.pool import Pool

# Purposes of derived random streams, so that they never collide.
INIT, SUBSET, MODEL, QUERY, STOP = 0, 1, 2, 3, 4


def derived_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed for one purpose of one round, independent of every other."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(2, np.uint64)[0] >> 1)


def initial_indices(pool_size: int, count: int, seed: int) -> np.ndarray:
    """The random initial labeled set: the same for every strategy under one seed."""
    rng = np.random.default_rng(derived_seed(seed, INIT))
    return np.sort(rng.choice(pool_size, size=count, replace=False))


def random_draw(pool: Pool, count: int, seed: int) -> np.ndarray:
    """``count`` random unlabeled indices, ascending, for a round before any model exists.

    On an empty pool this is ``initial_indices``, so a labeling project's first batch is the
    benchmark's initial set; later draws are salted with the number of labels already given.
    """
    if not len(pool.labeled):
        return initial_indices(pool.size, count, seed)
    rng = np.random.default_rng(derived_seed(seed, INIT, len(pool.labeled)))
    return np.sort(rng.choice(pool.unlabeled, size=count, replace=False))


def stop_set(pool_size: int, size: int, seed: int) -> np.ndarray:
    """The fixed samples every round's model is scored on for the label-free stop signals
    (``ll4al.al.signals``): drawn once from the whole pool, the same in every round, so that
    successive rounds' predictions can be compared."""
    rng = np.random.default_rng(derived_seed(seed, STOP))
    return np.sort(rng.choice(pool_size, size=min(size, pool_size), replace=False))


def candidate_subset(pool: Pool, size: int, seed: int, cycle: int) -> np.ndarray:
    """A random subset of the unlabeled pool.

    A permutation of the whole pool fixed by (seed, cycle) is filtered to the unlabeled
    samples, so strategies that labeled different samples still see the same order.
    """
    rng = np.random.default_rng(derived_seed(seed, SUBSET, cycle))
    order = rng.permutation(pool.size)
    return order[pool.unlabeled_mask[order]][:size]
