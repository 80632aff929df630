"""One conformance template every strategy passes, then focused checks of each one's rule."""

import numpy as np
import pytest
import torch

from ll4al import STRATEGIES, ClassificationTask, Learner, LearningLoss, get_strategy
from ll4al.models.networks import SmallCNN
from ll4al.strategies.coreset import k_center_greedy

from ..conftest import make_images


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    data = make_images(n=60)
    model = SmallCNN(num_classes=4, in_channels=3, width=0.25)
    lpm = LearningLoss(model, ["block1", "block3"], hidden=8, example_input=data.inputs([0, 1]))
    learner = Learner(
        lpm, ClassificationTask(), torch.device("cpu"), embedding_layer="flatten", batch_size=16
    )
    labeled = np.arange(0, 10)
    candidates = np.arange(15, 45)
    return learner, data, labeled, candidates


@pytest.fixture(params=sorted(STRATEGIES))
def strategy(request):
    return get_strategy(request.param)


def query(strategy, setup, k, candidates=None, labeled=None, seed=0):
    learner, data, default_labeled, default_candidates = setup
    return strategy.query(
        learner,
        data,
        default_labeled if labeled is None else labeled,
        default_candidates if candidates is None else candidates,
        k,
        np.random.default_rng(seed),
    )


class TestConformance:
    def test_returns_k_distinct_unlabeled_candidates(self, strategy, setup):
        _, _, labeled, candidates = setup
        picked = query(strategy, setup, 7)
        assert picked.dtype == np.int64 and picked.shape == (7,)
        assert len(set(picked.tolist())) == 7
        assert set(picked.tolist()) <= set(candidates.tolist())
        assert not set(picked.tolist()) & set(labeled.tolist())

    def test_deterministic_under_a_seed(self, strategy, setup):
        assert np.array_equal(query(strategy, setup, 5, seed=3), query(strategy, setup, 5, seed=3))

    def test_k_equal_to_candidates_returns_all(self, strategy, setup):
        candidates = np.array([20, 22, 25, 31])
        picked = query(strategy, setup, 4, candidates=candidates)
        assert sorted(picked.tolist()) == candidates.tolist()

    @pytest.mark.parametrize("k", [0, -1, 31])
    def test_k_out_of_range_is_a_clear_error(self, strategy, setup, k):
        with pytest.raises(ValueError, match="K="):
            query(strategy, setup, k)

    def test_labeled_candidates_are_rejected(self, strategy, setup):
        with pytest.raises(ValueError, match="labeled"):
            query(strategy, setup, 2, candidates=np.array([3, 20, 21]))

    def test_empty_pool_is_a_clear_error(self, strategy, setup):
        with pytest.raises(ValueError, match="empty"):
            query(strategy, setup, 1, candidates=np.array([], dtype=np.int64))

    def test_duplicate_candidates_are_rejected(self, strategy, setup):
        with pytest.raises(ValueError, match="duplicate"):
            query(strategy, setup, 1, candidates=np.array([20, 20, 21]))

    def test_query_changes_no_model_state(self, strategy, setup):
        learner = setup[0]
        learner.model.train()
        before = {k: v.clone() for k, v in learner.model.state_dict().items()}
        query(strategy, setup, 5)
        assert learner.model.training
        after = learner.model.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)


class FakeLearner:
    """Stands in for a trained model with known outputs per pool index."""

    def __init__(self, **per_index):
        self.per_index = {k: torch.as_tensor(v) for k, v in per_index.items()}

    def infer(self, data, indices, want):
        return {name: self.per_index[name][torch.as_tensor(indices)] for name in want}


def test_learning_loss_takes_highest_predicted_loss_first():
    learner = FakeLearner(predicted_loss=[0.0, 5.0, 1.0, 9.0, 3.0, 9.0])
    picked = get_strategy("learning-loss").query(
        learner, None, np.array([0]), np.arange(1, 6), 3, np.random.default_rng(0)
    )
    assert picked.tolist() == [3, 5, 1]  # tie 9.0: candidate order kept


def test_entropy_takes_most_uncertain():
    probs = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.9, 0.1], [0.6, 0.4]])
    learner = FakeLearner(uncertainty=ClassificationTask().uncertainty(probs.log()))  # logits
    picked = get_strategy("entropy").query(
        learner, None, np.array([], dtype=np.int64), np.arange(4), 2, np.random.default_rng(0)
    )
    assert picked.tolist() == [1, 3]


def test_core_set_covers_far_points_first():
    points = torch.tensor([[0.0], [0.1], [10.0], [5.0], [9.9], [0.2]])
    learner = FakeLearner(embedding=points)
    picked = get_strategy("core-set").query(
        learner, None, np.array([0]), np.arange(1, 6), 2, np.random.default_rng(0)
    )
    assert picked.tolist() == [2, 3]


def test_k_center_greedy_without_centres_starts_at_first():
    points = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    assert k_center_greedy(points, points[:0], 3, first=1) == [1, 3, 0]


def test_random_is_uniform_over_candidates():
    counts = np.zeros(10)
    strategy = get_strategy("random")
    rng = np.random.default_rng(0)
    for _ in range(2000):
        counts[strategy.query(None, None, np.array([], dtype=np.int64), np.arange(10), 2, rng)] += 1
    assert counts.min() > 330 and counts.max() < 470  # expectation 400 each


def test_unknown_strategy_lists_the_known_ones():
    with pytest.raises(ValueError, match="learning-loss"):
        get_strategy("bogus")


def test_embedding_layer_that_never_runs_is_reported():
    from torch import nn

    class Skips(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(3, 2), nn.Linear(3, 2)

        def forward(self, x):
            return self.used(x.flatten(1)[:, :3])

    data = make_images(n=8)
    learner = Learner(Skips(), ClassificationTask(), torch.device("cpu"), embedding_layer="unused")
    for name in ("core-set", "bald"):  # bald: no dropout would run, all scores zero
        with pytest.raises(RuntimeError, match="'unused' did not run"):
            get_strategy(name).query(
                learner, data, np.array([0]), np.arange(1, 8), 2, np.random.default_rng(0)
            )


def test_options_in_the_name_reach_the_strategy_and_its_records():
    strategy = get_strategy("learning-loss-budget( min_labeled_per_class = 150 ,k_nn=5)")
    assert strategy.min_labeled_per_class == 150 and strategy.k_nn == 5
    assert strategy.min_lpm_agreement == 0.55  # the default where not given
    assert strategy.name == "learning-loss-budget(min_labeled_per_class=150,k_nn=5)"
    assert get_strategy("learning-loss-budget").name == "learning-loss-budget"


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("learning-loss-budget(colour=1)", "no option 'colour'; it takes min_labeled_per_class"),
        ("random(k_nn=3)", "it takes no options"),
        ("learning-loss-budget(min_labeled_per_class=-1)", "must be >= 0"),
        ("learning-loss-budget(min_labeled_per_class)", "is not key=value"),
        ("learning-loss-budget(k_nn=[1])", "needs one number or word"),
        ("learning-loss-budget(k_nn=1,k_nn=2)", "'k_nn' is given twice"),
        ("Learning Loss", "is not NAME or NAME(key=value, ...)"),
        ("no-such-thing(a=1)", "Unknown strategy 'no-such-thing'"),
    ],
)
def test_bad_strategy_specs_are_refused_in_one_line(spec, says):
    with pytest.raises(ValueError) as err:
        get_strategy(spec)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_config_with_a_bad_option_fails_before_any_work():
    from ll4al.al.checks import check_strategies
    from ll4al.config import ConfigError

    check_strategies(["learning-loss-budget(min_labeled_per_class=150)"], ClassificationTask(), "x")
    with pytest.raises(ConfigError, match="no option 'colour'"):
        check_strategies(["random", "learning-loss(colour=2)"], ClassificationTask(), "x")
