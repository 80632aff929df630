"""learning-loss-diverse: high predicted loss first, then spread over the embedding."""

import numpy as np
import pytest
import torch

from ll4al import get_strategy
from ll4al.strategies.learning_loss_diverse import LearningLossDiverseStrategy

from .test_strategies import FakeLearner

# Candidates 1-4 sit in cluster A and have the highest predicted losses; 5-8 sit in cluster B.
EMBEDDING = torch.tensor(
    [[0.0, 0.0]]  # index 0: labeled
    + [[0.0, 0.1 * i] for i in range(4)]
    + [[10.0, 10.0 + 0.1 * i] for i in range(4)]
)
PREDICTED = torch.tensor([0.0, 10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 1.0, 0.0])


def pick(strategy, k, seed=0, embedding=EMBEDDING, predicted=PREDICTED):
    learner = FakeLearner(embedding=embedding, predicted_loss=predicted)
    return strategy.query(
        learner, None, np.array([0]), np.arange(1, 9), k, np.random.default_rng(seed)
    )


@pytest.mark.parametrize("seed", range(10))
def test_batch_spans_both_clusters_where_top_k_does_not(seed):
    diverse = pick(LearningLossDiverseStrategy(shortlist_factor=3), 2, seed)
    assert {int(i) <= 4 for i in diverse} == {True, False}  # one from A, one from B
    plain = pick(get_strategy("learning-loss"), 2)
    assert plain.tolist() == [1, 2]  # both from cluster A


@pytest.mark.parametrize("seed", range(10))
def test_never_picks_outside_the_predicted_loss_shortlist(seed):
    picked = pick(LearningLossDiverseStrategy(shortlist_factor=1.5), 2, seed)
    assert set(picked.tolist()) <= {1, 2, 3}  # ceil(1.5 * 2) = 3 highest predicted losses


def test_shortlist_of_exactly_k_is_plain_learning_loss():
    picked = pick(LearningLossDiverseStrategy(shortlist_factor=1), 3)
    assert picked.tolist() == [1, 2, 3]


def test_identical_embeddings_still_give_k_distinct_picks():
    same = torch.zeros(9, 2)
    picked = pick(LearningLossDiverseStrategy(shortlist_factor=4), 3, embedding=same)
    assert len(set(picked.tolist())) == 3
    assert set(picked.tolist()) <= set(range(1, 9))


def test_shortlist_factor_below_one_is_refused():
    with pytest.raises(ValueError, match="shortlist_factor"):
        LearningLossDiverseStrategy(shortlist_factor=0.5)
