import pytest
import torch

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
