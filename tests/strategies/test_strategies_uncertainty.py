"""Focused checks of margin, least-confidence, BALD, BADGE and EGL."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ll4al import ClassificationTask, Learner, get_strategy
from ll4al.models.learner import MCDropout
from ll4al.strategies.badge import gradient_embedding
from ll4al.strategies.bald import BaldStrategy, bald_scores
from ll4al.strategies.base import kmeans_pp
from ll4al.strategies.egl import expected_gradient_length

from .test_strategies import FakeLearner

NONE = np.array([], dtype=np.int64)

# Margin and least confidence order these differently from each other and from entropy.
PROBS = [
    [0.90, 0.05, 0.05, 0.00],  # confident: last for every score
    [0.50, 0.50, 0.00, 0.00],  # margin 0, least confidence 0.50
    [0.40, 0.30, 0.30, 0.00],  # margin 0.10, least confidence 0.60
    [0.34, 0.33, 0.33, 0.00],  # margin 0.01, least confidence 0.66 (entropy's first)
]


def query(name, learner, candidates, k, seed=0, data=None, strategy=None):
    strategy = strategy or get_strategy(name)
    return strategy.query(learner, data, NONE, candidates, k, np.random.default_rng(seed))


def test_margin_takes_smallest_gap_between_top_two():
    picked = query("margin", FakeLearner(probs=PROBS), np.arange(4), 3)
    assert picked.tolist() == [1, 3, 2]


def test_least_confidence_takes_lowest_top_probability():
    picked = query("least-confidence", FakeLearner(probs=PROBS), np.arange(4), 3)
    assert picked.tolist() == [3, 2, 1]


# --- EGL ---------------------------------------------------------------------------------


def test_egl_by_hand():
    probs = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    h = torch.tensor([[100.0, 0.0], [3.0, 0.0]])
    # one-hot p: no gradient whatever the label; uniform p: ||p - e_y|| = sqrt(0.5) for both y
    expected = torch.tensor([0.0, math.sqrt(0.5) * math.sqrt(9 + 1)], dtype=torch.float64)
    assert torch.allclose(expected_gradient_length(probs, h), expected)


def test_egl_matches_autograd_on_a_linear_layer():
    torch.manual_seed(0)
    layer, h = nn.Linear(3, 4), torch.randn(5, 3)
    probs = layer(h).softmax(dim=1).detach()
    expected = torch.zeros(5, dtype=torch.float64)
    for i in range(5):
        for y in range(4):
            layer.zero_grad()
            F.cross_entropy(layer(h[i : i + 1]), torch.tensor([y])).backward()
            norm = (layer.weight.grad.square().sum() + layer.bias.grad.square().sum()).sqrt()
            expected[i] += probs[i, y].double() * norm.double()
    assert torch.allclose(expected_gradient_length(probs, h), expected, atol=1e-6)


def test_egl_prefers_larger_features_at_equal_uncertainty():
    learner = FakeLearner(
        probs=[[0.5, 0.5], [1.0, 0.0], [0.5, 0.5], [0.8, 0.2]],
        embedding=[[1.0, 0.0], [50.0, 0.0], [4.0, 0.0], [1.0, 0.0]],
    )
    assert query("egl", learner, np.arange(4), 3).tolist() == [2, 0, 3]


# --- BADGE -------------------------------------------------------------------------------


def test_gradient_embedding_is_the_last_layer_gradient_for_the_guessed_label():
    torch.manual_seed(0)
    layer, h = nn.Linear(3, 4), torch.randn(5, 3)
    probs = layer(h).softmax(dim=1).detach()
    grads = gradient_embedding(probs, h)
    for i in range(5):
        layer.zero_grad()
        F.cross_entropy(layer(h[i : i + 1]), probs[i : i + 1].argmax(dim=1)).backward()
        assert torch.allclose(grads[i], layer.weight.grad.flatten(), atol=1e-6)


def badge_learner():
    """Four groups of identical gradient embeddings: three uncertain ones and a zero group."""
    uncertain, confident = [0.5, 0.5], [1.0, 0.0]
    groups = [
        (confident, [1.0, 0.0]),  # gradient 0: the model is sure
        (uncertain, [1.0, 0.0]),
        (uncertain, [0.0, 1.0]),
        (uncertain, [-1.0, 0.0]),
    ]
    probs = [p for p, _ in groups for _ in range(5)]
    embedding = [h for _, h in groups for _ in range(5)]
    return FakeLearner(probs=probs, embedding=embedding), np.repeat(np.arange(4), 5)


@pytest.mark.parametrize("seed", range(5))
def test_badge_takes_one_sample_per_cluster_before_repeating_one(seed):
    learner, group = badge_learner()
    picked = query("badge", learner, np.arange(20), 6, seed=seed)
    assert len(set(picked.tolist())) == 6
    assert sorted(group[picked[:4]].tolist()) == [0, 1, 2, 3]


def test_badge_with_all_gradients_zero_still_returns_k_distinct():
    learner = FakeLearner(probs=[[1.0, 0.0]] * 8, embedding=[[1.0, 2.0]] * 8)
    picked = query("badge", learner, np.arange(8), 8)
    assert sorted(picked.tolist()) == list(range(8))


def test_badge_depends_on_the_seed():
    learner, _ = badge_learner()
    picks = {tuple(query("badge", learner, np.arange(20), 3, seed=s)) for s in range(6)}
    assert len(picks) > 1


def test_kmeans_pp_picks_the_far_point_early_and_never_repeats():
    points = np.zeros((6, 2))
    points[4] = 1.0
    picked = kmeans_pp(points, 4, np.random.default_rng(0), local_trials=1)
    assert len(set(picked.tolist())) == 4 and 4 in picked[:2]


# --- BALD --------------------------------------------------------------------------------


class TensorData:
    def __init__(self, x, fail_after=None):
        self.x, self.fail_after, self.calls = x, fail_after, 0

    def __len__(self):
        return len(self.x)

    def inputs(self, indices):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise OSError("disk gone")
        return self.x[torch.as_tensor(indices)]


class TwoFeatures(nn.Module):
    """logit_c = 5 * x_c: dropping one of two equal features flips the prediction."""

    def __init__(self, dropout=False):
        super().__init__()
        self.features = nn.Flatten()
        self.norm = nn.BatchNorm1d(2)
        self.dropout = nn.Dropout(0.5) if dropout else nn.Identity()
        self.fc = nn.Linear(2, 2)
        with torch.no_grad():
            self.fc.weight.copy_(5 * torch.eye(2))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(self.dropout(self.norm(self.features(x))))


def bald_learner(dropout=False):
    return Learner(
        TwoFeatures(dropout).eval(),
        ClassificationTask(),
        torch.device("cpu"),
        embedding_layer="features",
        batch_size=4,
    )


# zero rows agree under any mask; [1, 0] rows disagree a little, [1, 1] rows most
ROWS = torch.tensor([[0.0, 0.0]] * 4 + [[1.0, 0.0]] * 4 + [[1.0, 1.0]] * 4)


def test_bald_scores_by_hand():
    disagree = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # [T=2, B=1, C=2]
    agree_unsure = torch.full((2, 1, 2), 0.5)
    assert torch.allclose(bald_scores(disagree), torch.tensor([math.log(2)], dtype=torch.float64))
    assert torch.allclose(bald_scores(agree_unsure), torch.zeros(1, dtype=torch.float64))


@pytest.mark.parametrize("dropout", [False, True], ids=["hook", "module"])
def test_bald_ranks_inputs_on_which_dropout_disagrees_first(dropout):
    learner, data = bald_learner(dropout), TensorData(ROWS)
    strategy = BaldStrategy(passes=100)
    assert sorted(query("bald", learner, np.arange(12), 4, data=data, strategy=strategy)) == [
        8,
        9,
        10,
        11,
    ]
    assert min(query("bald", learner, np.arange(12), 8, data=data, strategy=strategy)) == 4


def test_bald_is_deterministic_and_leaves_global_rng_alone():
    learner, data = bald_learner(), TensorData(ROWS[4:].repeat(2, 1))
    candidates, strategy = np.arange(16), BaldStrategy(passes=2)
    torch.manual_seed(1)
    state = torch.get_rng_state()
    first = query("bald", learner, candidates, 5, seed=7, data=data, strategy=strategy)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(2)  # the global seed must not matter
    again = query("bald", learner, candidates, 5, seed=7, data=data, strategy=strategy)
    assert first.tolist() == again.tolist()
    others = {
        tuple(query("bald", learner, candidates, 5, seed=s, data=data, strategy=strategy))
        for s in range(5)
    }
    assert len(others) > 1  # the masks do come from the query's rng


def test_bald_with_dropout_modules_keeps_batch_norm_in_eval_mode():
    learner, data = bald_learner(dropout=True), TensorData(ROWS)
    net = learner.model.train()
    seen = []
    net.fc.register_forward_pre_hook(
        lambda *_: seen.append((net.norm.training, net.dropout.training))
    )
    stats = net.norm.running_mean.clone()
    query("bald", learner, np.arange(12), 3, data=data, strategy=BaldStrategy(passes=3))
    assert seen and set(seen) == {(False, True)}
    assert torch.equal(net.norm.running_mean, stats)
    assert all(m.training for m in net.modules())  # modes as they were before the query
    assert not net.features._forward_hooks and not net.dropout._forward_pre_hooks  # removed


def test_bald_restores_modes_hooks_and_rng_on_error():
    learner, data = bald_learner(), TensorData(ROWS, fail_after=1)
    net = learner.model
    net.norm.train()  # a mixed state, to be restored exactly
    state = torch.get_rng_state()
    with pytest.raises(OSError, match="disk gone"):
        query("bald", learner, np.arange(12), 3, data=data)
    assert data.calls == 2  # it streamed batch by batch and failed on the second
    assert [m.training for m in (net, net.features, net.norm, net.fc)] == [
        False,
        False,
        True,
        False,
    ]
    assert not net.features._forward_hooks
    assert torch.equal(torch.get_rng_state(), state)


def test_bald_without_dropout_or_embedding_layer_is_a_clear_error():
    learner = Learner(TwoFeatures(), ClassificationTask(), torch.device("cpu"))
    with pytest.raises(ValueError, match="embedding_layer"):
        query("bald", learner, np.arange(12), 3, data=TensorData(ROWS))


@pytest.mark.parametrize("kwargs", [{"passes": 0}, {"p": 0.0}, {"p": 1.0}])
def test_bald_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        BaldStrategy(**kwargs)


@pytest.mark.parametrize("dropout", [False, True], ids=["hook", "module"])
def test_bald_runs_the_network_up_to_the_embedding_once_per_batch(dropout):
    learner, data = bald_learner(dropout), TensorData(ROWS)
    calls = []
    learner.model.features.register_forward_hook(lambda *_: calls.append(1))
    head = []
    learner.model.fc.register_forward_hook(lambda _m, inputs, _o: head.append(len(inputs[0])))
    query("bald", learner, np.arange(12), 3, data=data, strategy=BaldStrategy(passes=20))
    assert len(calls) == 3  # 12 candidates in batches of 4: the backbone once per batch
    assert head == [80, 80, 80]  # the head on 20 masked copies of each batch


class MaskTable:
    """Stands in for ``F.dropout``: multiplies by the next rows of a fixed table of masks,
    so that two ways of running the passes can be given the same masks."""

    def __init__(self, masks):
        self.rows = iter(masks)

    def __call__(self, x, p=0.5, training=True, inplace=False):
        return x * torch.stack([next(self.rows) for _ in range(len(x))])


@pytest.mark.parametrize("dropout", [False, True], ids=["hook", "module"])
def test_backbone_once_gives_the_probabilities_of_full_passes_under_the_same_masks(
    dropout, monkeypatch
):
    learner, passes = bald_learner(dropout), 5
    x = torch.randn(12, 2, generator=torch.Generator().manual_seed(0))
    masks = 2 * (torch.rand(passes * 12, 2, generator=torch.Generator().manual_seed(1)) > 0.5)
    monkeypatch.setattr(F, "dropout", MaskTable(masks.float()))
    mc = MCDropout(passes, 0.5, seed=0)
    once = learner.infer(TensorData(x), np.arange(12), ["mc_probs"], mc)["mc_probs"]
    monkeypatch.setattr(F, "dropout", MaskTable(masks.float()))  # the same masks again

    def probs(batch):
        return learner.task.probabilities(learner.forward(batch)[0])

    with learner.mc_dropout(copies=1):  # no repeat: every pass runs the whole network
        batches = x.split(learner.batch_size)  # batch by batch, as infer streams them
        full = torch.cat([torch.stack([probs(b) for _ in range(passes)]) for b in batches], 1)
    assert once.shape == (passes, 12, 2)
    assert not torch.equal(once[0], once[1])  # the masks do differ between passes
    torch.testing.assert_close(once, full)


class DropoutFirst(nn.Module):
    """Dropout on the input, before the embedding: copies of the embedding would share it."""

    def __init__(self):
        super().__init__()
        self.dropout = nn.Dropout(0.5)
        self.features = nn.Linear(2, 2)
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return self.fc(self.features(self.dropout(x)))


def test_bald_runs_full_passes_where_dropout_comes_before_the_embedding():
    torch.manual_seed(0)
    learner = Learner(
        DropoutFirst(), ClassificationTask(), torch.device("cpu"), "fp32", "features", 4
    )
    calls = []
    learner.model.features.register_forward_hook(lambda _m, x, _o: calls.append(len(x[0])))
    picked = query(
        "bald", learner, np.arange(12), 3, data=TensorData(ROWS), strategy=BaldStrategy(5)
    )
    assert len(set(picked.tolist())) == 3
    assert calls == [4] * 15  # 3 batches x 5 passes of the whole network, no copies
    assert not learner.model.dropout._forward_pre_hooks


class SkipAround(nn.Module):
    """A head that also reads the input: copies of the embedding alone do not fit it."""

    def __init__(self):
        super().__init__()
        self.features = nn.Linear(2, 2)
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return self.fc(self.features(x)) + x


def test_bald_falls_back_to_full_passes_where_the_head_reads_more_than_the_embedding():
    torch.manual_seed(0)
    learner = Learner(
        SkipAround(), ClassificationTask(), torch.device("cpu"), "fp32", "features", 4
    )
    picked = query(
        "bald", learner, np.arange(12), 3, data=TensorData(ROWS), strategy=BaldStrategy(5)
    )
    assert len(set(picked.tolist())) == 3
