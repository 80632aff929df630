"""learning-loss-balanced (top predicted losses round-robin over classes) and
learning-loss-budget (TypiClust while the LPM cannot rank, then balanced), with the mode on
each cycle's record."""

import numpy as np
import pytest
import torch

from ll4al.strategies import get_strategy
from ll4al.strategies.learning_loss_balanced import (
    LearningLossBalancedStrategy,
    default_clusters,
    round_robin,
)
from ll4al.strategies.learning_loss_budget import (
    LearningLossBudgetStrategy,
    lpm_agreement,
    typicality,
    typiclust,
)
from ll4al.tasks.base import entropy

from ..al.test_loop import make_run
from ..helpers import tiny_spec
from .test_strategies import FakeLearner


class FakeTask:
    def __init__(self, probabilities=True, uncertainty=True):
        self.has_probabilities = probabilities
        self.has_uncertainty = uncertainty


class TaskLearner(FakeLearner):
    """A fake learner with a task, remembering what each inference pass asked for."""

    def __init__(self, task, **per_index):
        super().__init__(**per_index)
        self.task = task
        self.asked = []

    def infer(self, data, indices, want):
        self.asked.append(sorted(want))
        return super().infer(data, indices, want)


def one_hot_probs(classes, width):
    probs = torch.full((len(classes), width), 0.1 / (width - 1))
    probs[torch.arange(len(classes)), torch.as_tensor(classes)] = 0.9
    return probs


# Candidates 1-8 (0 is labeled): predicted class and predicted loss. Class 0 holds the four
# highest losses, class 2 a single candidate, class 3 none.
CLASSES = [0, 0, 0, 0, 0, 1, 1, 2, 1]
LOSSES = [0.0, 9.0, 8.0, 7.0, 6.0, 5.0, 1.0, 3.0, 4.0]


def balanced_pick(k, strategy=None):
    learner = TaskLearner(
        FakeTask(), probs=one_hot_probs(CLASSES, 4), predicted_loss=torch.tensor(LOSSES)
    )
    strategy = strategy or LearningLossBalancedStrategy()
    picked = strategy.query(
        learner, None, np.array([0]), np.arange(1, 9), k, np.random.default_rng(0)
    )
    return picked.tolist(), learner, strategy


class TestBalancedQuotas:
    def test_one_per_class_before_any_class_gets_a_second(self):
        assert balanced_pick(3)[0] == [1, 5, 7]  # each class's top, by predicted loss
        plain = get_strategy("learning-loss").query(
            FakeLearner(predicted_loss=torch.tensor(LOSSES)),
            None,
            np.array([0]),
            np.arange(1, 9),
            3,
            np.random.default_rng(0),
        )
        assert plain.tolist() == [1, 2, 3]  # all three from class 0

    def test_leftover_goes_by_predicted_loss_and_an_exhausted_class_gives_way(self):
        # K=5 over 3 classes with candidates: 1 each, leftover 2 to classes 0 (8.0) and 1 (4.0)
        assert balanced_pick(5)[0] == [1, 5, 7, 2, 8]
        # class 2 has one candidate: its share goes to classes 0 and 1
        assert balanced_pick(7)[0] == [1, 5, 7, 2, 8, 3, 6]
        assert balanced_pick(8)[0] == [1, 5, 7, 2, 8, 3, 6, 4]

    def test_reads_probabilities_and_predicted_loss_only(self):
        _, learner, strategy = balanced_pick(3)
        assert learner.asked == [["predicted_loss", "probs"]]
        assert strategy.last_query_info == {"mode": "loss-balanced", "groups": "predicted-classes"}

    @pytest.mark.parametrize("seed", range(5))
    def test_quotas_are_uniform_capped_and_top_loss_within_each_class(self, seed):
        rng = np.random.default_rng(seed)
        classes = rng.choice(5, size=60, p=[0.5, 0.3, 0.1, 0.07, 0.03])
        scores = rng.normal(size=60)
        picked = round_robin(classes, scores, 23)
        counts = np.bincount(classes[picked], minlength=5)
        available = np.bincount(classes, minlength=5)
        for c in range(5):  # a class short of its share gives all it has; the rest differ by 1
            assert counts[c] == available[c] or counts[c] >= counts.max() - 1
            members = np.flatnonzero(classes == c)
            top = members[np.argsort(-scores[members], kind="stable")][: counts[c]]
            assert set(picked[classes[picked] == c].tolist()) == set(top.tolist())


# Two far-apart blobs of candidates; the four highest predicted losses all sit in blob A.
BLOBS = torch.tensor(
    [[50.0, 50.0]]  # index 0: labeled
    + [[0.0, 0.1 * i] for i in range(5)]  # 1-5: blob A
    + [[100.0, 0.1 * i] for i in range(5)]  # 6-10: blob B
)
BLOB_LOSSES = torch.tensor([0.0, 9.0, 8.0, 7.0, 6.0, 0.5, 5.0, 4.0, 1.0, 2.0, 3.0])


class TestWithoutClassProbabilities:
    @pytest.mark.parametrize("seed", range(5))
    def test_embedding_clusters_stand_in_for_classes(self, seed):
        learner = TaskLearner(
            FakeTask(probabilities=False, uncertainty=False),
            embedding=BLOBS,
            predicted_loss=BLOB_LOSSES,
        )
        strategy = LearningLossBalancedStrategy(clusters=2)
        picked = strategy.query(
            learner, None, np.array([0]), np.arange(1, 11), 4, np.random.default_rng(seed)
        )
        assert picked.tolist() == [1, 6, 2, 7]  # two per blob, highest loss first in each
        assert learner.asked == [["embedding", "predicted_loss"]]  # never asks for probs
        assert strategy.last_query_info["groups"] == "embedding-clusters"

    def test_default_pseudo_classes_are_ceil_sqrt_k(self):
        assert [default_clusters(k) for k in (1, 4, 5, 40, 100, 1000)] == [1, 2, 3, 7, 10, 32]

    def test_clusters_below_one_are_refused(self):
        with pytest.raises(ValueError, match="clusters"):
            LearningLossBalancedStrategy(clusters=0)


def blob(centre, size):
    """A centre point (the most typical), four close to it, the rest far out on a ring."""
    cx, cy = centre
    near = [(cx + 0.1, cy), (cx - 0.1, cy), (cx, cy + 0.1), (cx, cy - 0.1)]
    far = [
        (cx + np.cos(a), cy + np.sin(a))
        for a in np.linspace(0, 2 * np.pi, size - 5, endpoint=False)
    ]
    return [(cx, cy), *near, *far]


# Blob L (12 points, the largest) holds the one labeled sample; A (9) and B (7) hold none.
# Rows: L's points 0-11 with row 0 labeled, A's centre is row 12, B's centre row 21.
TYPICAL_POINTS = np.array(blob((0, 0), 12) + blob((100, 0), 9) + blob((0, 100), 7))
TYPICAL_LABELED = np.zeros(len(TYPICAL_POINTS), dtype=bool)
TYPICAL_LABELED[0] = True


class TestTypiClust:
    def test_the_centre_is_the_most_typical_and_a_lone_point_is_not_typical(self):
        points = np.array(blob((0, 0), 9))
        assert int(np.argmax(typicality(points))) == 0
        assert typicality(points[:1]).tolist() == [0.0]

    @pytest.mark.parametrize("seed", range(5))
    def test_picks_the_centres_of_the_largest_uncovered_clusters(self, seed):
        picked = typiclust(TYPICAL_POINTS, TYPICAL_LABELED, 2, np.random.default_rng(seed))
        assert picked.tolist() == [12, 21]  # A's centre, then B's; nothing from the larger L

    @pytest.mark.parametrize("seed", range(5))
    def test_covered_clusters_come_after_the_uncovered_ones(self, seed):
        rng = np.random.default_rng(seed)
        picked = typiclust(TYPICAL_POINTS, TYPICAL_LABELED, 3, rng, max_clusters=3)
        # L's centre is labeled: its next most typical member is one of its four near points
        assert picked[:2].tolist() == [12, 21] and picked[2] in (1, 2, 3, 4)

    def test_more_picks_than_clusters_go_round_by_round(self):
        picked = typiclust(
            TYPICAL_POINTS, TYPICAL_LABELED, 5, np.random.default_rng(0), max_clusters=3
        )
        assert picked[:2].tolist() == [12, 21] and picked[2] in (1, 2, 3, 4)
        assert picked[3] in range(13, 17) and picked[4] in range(22, 26)  # A's, B's next

    def test_budget_strategy_in_typical_mode_picks_the_same(self):
        # the strategy puts candidates first, then labeled: candidates are rows 1.. here
        embedding = torch.tensor(TYPICAL_POINTS, dtype=torch.float32)
        learner = TaskLearner(
            FakeTask(probabilities=False, uncertainty=False),
            embedding=embedding,
            predicted_loss=torch.arange(len(embedding), dtype=torch.float32),
        )
        strategy = LearningLossBudgetStrategy(max_clusters=3)
        candidates = np.arange(1, len(embedding))
        picked = strategy.query(
            learner, None, np.array([0]), candidates, 2, np.random.default_rng(0)
        )
        assert picked.tolist() == [12, 21]
        assert strategy.last_query_info["mode"] == "typical"
        assert strategy.last_query_info["lpm_agreement"] is None  # no uncertainty score
        assert learner.asked == [["embedding", "predicted_loss"], ["embedding"]]


def budget_learner(agree=True, n=100, seed=0):
    """Two classes; the predicted loss orders candidates like the entropy (or reversed)."""
    gen = torch.Generator().manual_seed(seed)
    p = torch.rand(n, generator=gen)
    probs = torch.stack([p, 1 - p], dim=1)
    uncertainty = entropy(probs.double())
    return TaskLearner(
        FakeTask(),
        probs=probs,
        uncertainty=uncertainty,
        predicted_loss=(uncertainty if agree else -uncertainty).float(),
        embedding=torch.randn(n, 3, generator=gen),
    )


def budget_query(strategy, labeled_count, agree=True):
    learner = budget_learner(agree)
    picked = strategy.query(
        learner, None, np.arange(labeled_count), np.arange(40, 100), 6, np.random.default_rng(0)
    )
    return picked, strategy.last_query_info


class TestSwitchRule:
    def test_rule_on_both_sides_of_each_threshold(self):
        strategy = LearningLossBudgetStrategy(min_labeled_per_class=20, min_lpm_agreement=0.55)
        assert not strategy.lpm_ready(19.9, 0.9)
        assert strategy.lpm_ready(20.0, 0.9)
        assert not strategy.lpm_ready(20.0, 0.549)
        assert strategy.lpm_ready(20.0, 0.55)
        assert strategy.lpm_ready(20.0, None)  # no uncertainty score: the budget decides

    def test_labeled_per_class_switches_the_mode(self):
        strategy = LearningLossBudgetStrategy(min_labeled_per_class=20)
        _, info = budget_query(strategy, 39)  # 19.5 per class of 2
        assert info["mode"] == "typical" and info["labeled_per_class"] == 19.5
        picked, info = budget_query(strategy, 40)
        assert info == {
            "mode": "loss-balanced",
            "groups": "predicted-classes",
            "labeled_per_class": 20.0,
            "lpm_agreement": 1.0,
        }
        expected = LearningLossBalancedStrategy().query(
            budget_learner(), None, np.arange(40), np.arange(40, 100), 6, np.random.default_rng(0)
        )
        assert picked.tolist() == expected.tolist()  # loss-balanced mode is that strategy

    def test_an_lpm_ranking_against_the_models_uncertainty_keeps_it_typical(self):
        _, info = budget_query(LearningLossBudgetStrategy(), 40, agree=False)
        assert info["mode"] == "typical" and info["lpm_agreement"] == 0.0

    def test_agreement_signal(self):
        u = torch.tensor([0.1, 0.5, 0.3, 0.9])
        assert lpm_agreement(u * 2, u) == 1.0
        assert lpm_agreement(torch.zeros(4), u) == 0.0  # a collapsed LPM ranks nothing
        assert lpm_agreement(u, torch.ones(4)) is None  # no uncertainty order to agree with

    @pytest.mark.parametrize(
        "kwargs",
        [{"min_labeled_per_class": -1}, {"min_lpm_agreement": 1.5}, {"k_nn": 0}],
    )
    def test_bad_thresholds_are_refused(self, kwargs):
        with pytest.raises(ValueError):
            LearningLossBudgetStrategy(**kwargs)


def test_query_empties_the_info_of_the_last_query():
    strategy = get_strategy("learning-loss")
    strategy.last_query_info = {"mode": "stale"}
    strategy.query(
        FakeLearner(predicted_loss=torch.arange(5.0)),
        None,
        np.array([0]),
        np.arange(1, 5),
        2,
        np.random.default_rng(0),
    )
    assert strategy.last_query_info == {}


def tiny_run(run_dir, strategy):
    spec = tiny_spec("learning-loss-budget", cycles=2)
    spec.strategy = strategy
    return make_run(run_dir, spec)


def test_each_cycles_record_says_which_mode_its_query_used(tmp_path):
    first, last = tiny_run(tmp_path / "default", LearningLossBudgetStrategy()).run()
    assert first["query_mode"] == "typical"  # 10 labels over 4 classes
    assert first["query_labeled_per_class"] == 2.5
    assert "query_mode" not in last  # the last cycle evaluates and does not query
    eager = LearningLossBudgetStrategy(min_labeled_per_class=0, min_lpm_agreement=0)
    first, _ = tiny_run(tmp_path / "eager", eager).run()
    assert first["query_mode"] == "loss-balanced"
    assert first["query_groups"] == "predicted-classes"
    assert 0 <= first["query_lpm_agreement"] <= 1
