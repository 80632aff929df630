import pytest
import torch

from ll4al.config import TrainSettings
from ll4al.models.losses import joint_loss, pair_indices, ranking_accuracy, ranking_loss


def by_hand(pred, target, pairs, margin):
    terms = []
    for i, j in pairs:
        s = 1.0 if target[i] > target[j] else -1.0
        terms.append(max(0.0, -s * (pred[i] - pred[j]) + margin))
    return sum(terms) / len(terms)


def test_half_pairs_follow_the_paper_split():
    i, j = pair_indices(6)
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 5), (1, 4), (2, 3)]


def test_odd_batch_leaves_out_the_middle_sample():
    i, j = pair_indices(5)
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 4), (1, 3)]


@pytest.mark.parametrize(
    "pred,target",
    [
        ([0.3, -1.0, 2.0, 0.5], [1.0, 0.2, 0.1, 3.0]),
        ([1.0, 2.0, 0.0, 0.4, -0.7], [0.5, 0.1, 9.0, 0.2, 0.4]),  # odd batch
        ([5.0, 0.0], [1.0, 1.0]),  # a tie counts as sign -1
    ],
)
def test_ranking_loss_equals_the_formula(pred, target):
    n = len(pred)
    pairs = [(k, n - 1 - k) for k in range(n // 2)]
    got = ranking_loss(torch.tensor(pred), torch.tensor(target), margin=1.0)
    assert got.item() == pytest.approx(by_hand(pred, target, pairs, 1.0))


def test_all_pairs_and_margin():
    pred, target = [0.1, 0.9, -0.3, 0.2], [2.0, 1.0, 0.5, 3.0]
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    got = ranking_loss(torch.tensor(pred), torch.tensor(target), margin=0.5, pairs="all")
    assert got.item() == pytest.approx(by_hand(pred, target, pairs, 0.5))


def test_target_is_detached_and_prediction_gets_gradient():
    pred = torch.tensor([0.0, 0.0], requires_grad=True)
    target = torch.tensor([2.0, 1.0], requires_grad=True)
    ranking_loss(pred, target).backward()
    assert target.grad is None
    assert pred.grad.tolist() == [-1.0, 1.0]  # one pair: d/dp of max(0, -(p0 - p1) + 1)


def test_mse_option_and_joint_loss():
    pred, target = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0])
    assert ranking_loss(pred, target, kind="mse").item() == pytest.approx((1 + 4) / 2)
    joint = joint_loss(target, pred, weight=2.0, margin=1.0)
    assert joint.item() == pytest.approx(2.0 + 2.0 * by_hand([1, 2], [0, 4], [(0, 1)], 1.0))


def test_single_sample_gives_zero_and_bad_input_raises():
    assert ranking_loss(torch.tensor([1.0]), torch.tensor([2.0])).item() == 0.0
    with pytest.raises(ValueError, match="pairs"):
        ranking_loss(torch.zeros(4), torch.zeros(4), pairs="some")
    with pytest.raises(ValueError, match="'margin', 'mse' or 'listwise'"):
        ranking_loss(torch.zeros(4), torch.zeros(4), kind="ndcg")
    with pytest.raises(ValueError, match=r"\[B\]"):
        ranking_loss(torch.zeros(4, 1), torch.zeros(4, 1))


def test_ranking_accuracy_counts_concordant_pairs():
    target = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert ranking_accuracy(target * 10, target) == 1.0
    assert ranking_accuracy(-target, target) == 0.0
    # swap one adjacent pair: 5 of 6 pairs agree
    assert ranking_accuracy(torch.tensor([2.0, 1.0, 3.0, 4.0]), target) == pytest.approx(5 / 6)
    # tied true losses are left out
    assert ranking_accuracy(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 2.0])) == 1.0


def old_joint_loss(target_losses, predicted, weight=1.0, margin=1.0):
    """The training objective as it was before ``rank_pairs``/``rank_loss`` became settings."""
    predicted, target = predicted.float(), target_losses.float().detach()
    first = torch.arange(predicted.shape[0] // 2)
    i, j = first, predicted.shape[0] - 1 - first
    sign = torch.where(target[i] > target[j], 1.0, -1.0)
    rank = torch.clamp(-sign * (predicted[i] - predicted[j]) + margin, min=0).mean()
    return target_losses.mean() + weight * rank


@pytest.mark.parametrize("size", [128, 127])
def test_default_settings_keep_the_old_objective_bitwise(size):
    """Committed results must reproduce: value and gradient as before, bit for bit."""
    gen = torch.Generator().manual_seed(size)
    losses, predicted = torch.rand(size, generator=gen) * 3, torch.randn(size, generator=gen)
    defaults = TrainSettings()
    results = []
    for objective in (
        lambda p: joint_loss(losses, p, 0.7, 0.5, defaults.rank_pairs, defaults.rank_loss),
        lambda p: old_joint_loss(losses, p, 0.7, 0.5),
    ):
        p = predicted.clone().requires_grad_()
        value = objective(p)
        value.backward()
        results.append((value.detach(), p.grad))
    (new_value, new_grad), (old_value, old_grad) = results
    assert torch.equal(new_value, old_value) and torch.equal(new_grad, old_grad)


def test_listwise_is_the_softmax_cross_entropy_of_scaled_losses():
    pred, target = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([1.0, 3.0, 2.0])
    wanted = torch.softmax(target / target.std(unbiased=False), 0)
    by_hand = -(wanted * torch.log_softmax(pred, 0)).sum()
    got = ranking_loss(pred, target, kind="listwise")
    assert got.item() == pytest.approx(by_hand.item())
    # blind to the losses' scale and shift, as the margin loss: the gradient does not vanish
    # when the target network's losses shrink
    for scaled in (target * 1e-4, target * 50 + 7):
        assert ranking_loss(pred, scaled, kind="listwise").item() == pytest.approx(got.item())
    # equal losses: a uniform target, no NaN; one sample: nothing to rank
    assert torch.isfinite(ranking_loss(pred, torch.ones(3), kind="listwise"))
    assert ranking_loss(torch.tensor([1.0]), torch.tensor([2.0]), kind="listwise").item() == 0.0


def test_listwise_detaches_the_target_and_pushes_the_higher_loss_up():
    pred = torch.zeros(3, requires_grad=True)
    target = torch.tensor([1.0, 3.0, 2.0], requires_grad=True)
    ranking_loss(pred, target, kind="listwise").backward()
    assert target.grad is None
    assert pred.grad[1] < pred.grad[2] < pred.grad[0]  # descent raises the highest loss most


@pytest.mark.parametrize(
    "kind,pairs", [("margin", "half"), ("margin", "all"), ("listwise", "half")]
)
def test_each_ranker_learns_to_rank_a_toy_problem(kind, pairs):
    """A tiny MLP learns the order of a heavy-tailed synthetic 'loss' of its input."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 6, generator=gen)
    true_loss = torch.exp(x[:, 0] + 0.5 * x[:, 1] ** 2) * 1e-3  # small, skewed, like late losses
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    held_out = slice(1536, None)
    before = ranking_accuracy(net(x[held_out]).squeeze(1), true_loss[held_out])
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(5):
        order = torch.randperm(1536, generator=gen)
        for start in range(0, 1536, 64):
            rows = order[start : start + 64]
            loss = ranking_loss(net(x[rows]).squeeze(1), true_loss[rows], pairs=pairs, kind=kind)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    after = ranking_accuracy(net(x[held_out]).squeeze(1), true_loss[held_out])
    assert after > max(0.85, before)  # from 0.43; unscaled softmax targets reach only 0.70
