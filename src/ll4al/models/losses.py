"""Losses that teach a model the *order* of values from pairs.

The loss prediction module must rank samples by their target loss, not regress it: the loss
scale shrinks as the target network trains, so a regression target keeps moving (the paper's
argument against MSE). The same pairwise losses also train the preference model of
``ll4al.preference`` from a decision maker's pairwise answers.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

PairScheme = Literal["half", "all"]
LossKind = Literal["margin", "mse", "listwise"]


def pairwise_margin_loss(
    score_i: torch.Tensor, score_j: torch.Tensor, sign: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """Mean of ``max(0, -sign * (score_i - score_j) + margin)``.

    ``sign`` is +1 where item i should score higher than item j and -1 otherwise.
    """
    return torch.clamp(-sign * (score_i - score_j) + margin, min=0).mean()


def pairwise_logistic_loss(
    score_i: torch.Tensor, score_j: torch.Tensor, sign: torch.Tensor
) -> torch.Tensor:
    """RankNet's loss: mean of ``log(1 + exp(-sign * (score_i - score_j)))``."""
    return F.softplus(-sign * (score_i - score_j)).mean()


def listwise_softmax_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy from ``softmax(target / std(target))`` to ``softmax(predicted)``.

    The batch is one list (Li et al., ICPR 2020, "Learning to Rank for Active Learning: A
    Listwise Approach"). Picked over ListMLE because it puts its weight on the high-loss top
    of the list, the part a query takes, while ListMLE weighs the order among the many
    near-zero losses of well-fit samples, mostly noise, as much. Unlike Li et al. the true
    losses are divided by their batch standard deviation first: on the raw losses the target
    distribution would follow the loss scale, which shrinks as the target network trains (the
    paper's argument against MSE), going from one-hot to uniform with a vanishing gradient.
    Scaled so (and softmax being blind to shifts), it depends only on the losses' relative
    spread, as the margin loss depends only on their order. ``target`` must be detached.
    """
    scale = target.std(unbiased=False).clamp_min(torch.finfo(target.dtype).eps)
    wanted = torch.softmax(target / scale, dim=0)
    return -(wanted * torch.log_softmax(predicted, dim=0)).sum()


def pair_indices(batch_size: int, pairs: PairScheme = "half") -> tuple[torch.Tensor, torch.Tensor]:
    """Index pairs ``(i, j)`` of a batch.

    ``"half"`` is the paper's split into B/2 disjoint pairs ``(i, B-1-i)`` (an odd batch leaves
    out the middle sample); ``"all"`` is every pair ``i < j``.
    """
    if pairs == "half":
        first = torch.arange(batch_size // 2)
        return first, batch_size - 1 - first
    if pairs == "all":
        i, j = torch.triu_indices(batch_size, batch_size, offset=1)
        return i, j
    raise ValueError(f"pairs must be 'half' or 'all', got {pairs!r}")


def ranking_loss(
    predicted: torch.Tensor,
    target: torch.Tensor,
    margin: float = 1.0,
    pairs: PairScheme = "half",
    kind: LossKind = "margin",
) -> torch.Tensor:
    """The loss prediction module's loss (Yoo & Kweon, 2019, eq. 2).

    ``predicted`` and ``target`` are ``[B]``; ``target`` (the true per-sample losses) is
    detached, so this loss never trains the target network through its own loss values.
    ``kind="mse"`` is the regression ablation the paper argues against; ``kind="listwise"``
    ranks the whole batch at once (:func:`listwise_softmax_loss`; ``margin`` and ``pairs``
    unused).
    """
    if predicted.shape != target.shape or predicted.dim() != 1:
        raise ValueError(
            f"predicted and target must both be [B], got {tuple(predicted.shape)} "
            f"and {tuple(target.shape)}"
        )
    target = target.detach().to(predicted.dtype)
    if kind == "mse":
        return F.mse_loss(predicted, target)
    if kind == "listwise":
        return listwise_softmax_loss(predicted, target)
    if kind != "margin":
        raise ValueError(f"kind must be 'margin', 'mse' or 'listwise', got {kind!r}")
    i, j = pair_indices(predicted.shape[0], pairs)
    if i.numel() == 0:
        return predicted.sum() * 0.0
    i, j = i.to(predicted.device), j.to(predicted.device)
    sign = torch.where(target[i] > target[j], 1.0, -1.0).to(predicted.dtype)
    return pairwise_margin_loss(predicted[i], predicted[j], sign, margin)


def joint_loss(
    target_losses: torch.Tensor,
    predicted: torch.Tensor,
    weight: float = 1.0,
    margin: float = 1.0,
    pairs: PairScheme = "half",
    kind: LossKind = "margin",
) -> torch.Tensor:
    """``mean(L_target) + weight * ranking_loss``: the objective the target and LPM share."""
    rank = ranking_loss(predicted.float(), target_losses.float(), margin, pairs, kind)
    return target_losses.mean() + weight * rank


def ranking_accuracy(predicted: torch.Tensor, target: torch.Tensor, chunk: int = 512) -> float:
    """Share of pairs (ties in ``target`` left out) whose predicted order matches the true order.

    Exact over all pairs, computed in row chunks so 10^4 samples need little memory.
    """
    predicted = predicted.detach().flatten().double().cpu()
    target = target.detach().flatten().double().cpu()
    n = target.numel()
    agree = 0
    total = 0
    for start in range(0, n, chunk):
        rows = slice(start, min(start + chunk, n))
        dt = target[rows, None] - target[None, :]
        dp = predicted[rows, None] - predicted[None, :]
        # Each unordered pair is seen twice, (i, j) and (j, i); the ratio is unaffected.
        valid = dt != 0
        agree += int(((dt > 0) & (dp > 0) | (dt < 0) & (dp < 0))[valid].sum())
        total += int(valid.sum())
    if total == 0:
        raise ValueError("ranking accuracy needs at least two samples with different losses")
    return agree / total
