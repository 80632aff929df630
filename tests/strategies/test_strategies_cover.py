"""learning-loss-cover: balanced class quotas, each filled by k-centre greedy among the
class's highest predicted losses."""

import numpy as np
import pytest
import torch

from ll4al.strategies import get_strategy
from ll4al.strategies.learning_loss_balanced import LearningLossBalancedStrategy
from ll4al.strategies.learning_loss_cover import LearningLossCoverStrategy

from .test_strategies_balanced import CLASSES, LOSSES, FakeTask, TaskLearner, one_hot_probs

# Index 0 is labeled and sits at the origin; candidate 1 (class 0's highest loss) is almost
# on top of it, candidate 2 (its second highest) far away.
EMBEDDING = torch.tensor(
    [
        [0.0, 0.0],
        [0.1, 0.0],
        [5.0, 0.0],
        [0.0, 5.0],
        [0.2, 0.2],
        [3.0, 3.0],
        [1.0, 1.0],
        [-4.0, 0.0],
        [-2.0, -2.0],
    ]
)


def pick(strategy, k, probabilities=True, embedding=EMBEDDING, losses=LOSSES):
    learner = TaskLearner(
        FakeTask(probabilities=probabilities),
        probs=one_hot_probs(CLASSES, 4),
        predicted_loss=torch.tensor(losses),
        embedding=embedding,
    )
    picked = strategy.query(
        learner, None, np.array([0]), np.arange(1, 9), k, np.random.default_rng(0)
    )
    return picked.tolist(), learner


def test_a_near_duplicate_of_a_labeled_sample_gives_way_to_a_far_one():
    balanced, _ = pick(LearningLossBalancedStrategy(), 3)
    covered, _ = pick(LearningLossCoverStrategy(shortlist_factor=2), 3)
    assert balanced == [1, 5, 7]  # class 0's top predicted loss, right beside the labeled 0
    assert covered[0] == 2 and sorted(covered[1:]) == [5, 7]  # its far second, then classes 1, 2


def test_shortlist_of_one_quota_is_learning_loss_balanced():
    for k in range(1, 9):
        balanced, _ = pick(LearningLossBalancedStrategy(), k)
        covered, _ = pick(LearningLossCoverStrategy(shortlist_factor=1), k)
        assert sorted(covered) == sorted(balanced), k


@pytest.mark.parametrize("factor", [1.5, 2, 10])
def test_class_quotas_are_learning_loss_balanced_quotas(factor):
    classes = np.array(CLASSES)
    rng = np.random.default_rng(1)
    for k in range(1, 9):
        embedding = torch.as_tensor(rng.normal(size=(9, 3)), dtype=torch.float32)
        balanced, _ = pick(LearningLossBalancedStrategy(), k, embedding=embedding)
        covered, _ = pick(LearningLossCoverStrategy(factor), k, embedding=embedding)
        assert (
            np.bincount(classes[covered], minlength=4).tolist()
            == np.bincount(classes[balanced], minlength=4).tolist()
        )


def test_each_class_is_covered_once_before_any_twice():
    covered, _ = pick(LearningLossCoverStrategy(shortlist_factor=3), 6)
    first_round = np.array(CLASSES)[covered[:3]]
    assert sorted(first_round.tolist()) == [0, 1, 2]


def test_picks_stay_inside_the_loss_shortlist():
    # class 0 has quota 1 at K = 3 and factor 2: only its two highest losses (1, 2) may come
    for embedding in (EMBEDDING, -EMBEDDING, EMBEDDING.flip(1)):
        covered, _ = pick(LearningLossCoverStrategy(shortlist_factor=2), 3, embedding=embedding)
        assert [c for c in covered if CLASSES[c] == 0][0] in (1, 2)


def test_one_pass_over_candidates_and_labeled_and_the_mode_on_the_record():
    strategy = LearningLossCoverStrategy()
    _, learner = pick(strategy, 4)
    assert learner.asked == [["embedding", "predicted_loss", "probs"]]
    assert strategy.last_query_info == {"mode": "loss-cover", "groups": "predicted-classes"}


def test_without_classes_it_covers_embedding_clusters():
    strategy = LearningLossCoverStrategy(clusters=2)
    covered, learner = pick(strategy, 4, probabilities=False)
    assert len(set(covered)) == 4
    assert learner.asked == [["embedding", "predicted_loss"]]
    assert strategy.last_query_info["groups"] == "embedding-clusters"


def test_options_by_name_and_a_bad_factor_is_refused():
    assert get_strategy("learning-loss-cover(shortlist_factor=3)").shortlist_factor == 3.0
    with pytest.raises(ValueError, match="shortlist_factor must be >= 1"):
        get_strategy("learning-loss-cover(shortlist_factor=0.5)")
