"""The preference model: a RankNet that learns which objective vector a decision maker prefers.

A DM can say which of two solutions she likes better far more reliably than she can put a number
on either, so the model is trained on pairs only (the same argument as the loss prediction
module's ranking loss, and the same loss code from :mod:`ll4al.models.losses`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting
from torch import nn

from ll4al.models.losses import pairwise_logistic_loss, pairwise_margin_loss

PreferenceLoss = Literal["logistic", "hinge"]
# The normaliser's defaults in a run (see ObjectiveNormalizer), chosen on seeds 21-40 of
# DTLZ1/3/4 with m = 3, apart from the reported seeds 0-20 (issue 14).
NADIR_QUANTILE = 0.9
MIN_SPAN = 0.05


@dataclass
class ObjectiveNormalizer:
    """Map of objective vectors to ``z = (f - ideal) / (nadir - ideal)`` per objective, with
    the part beyond the nadir compressed (``z > 1`` becomes ``1 + log z``).

    ``ideal`` is the best value of each objective seen so far in the run and ``nadir`` an
    upper ``quantile`` of each objective over the current non-dominated front, refitted at
    each consultation and frozen until the next one (scores within ``tau`` generations stay
    comparable). Why these bounds: DTLZ1/3 start with objectives in the hundreds and end below
    one, so bounds that remember old populations would squash the current one into a corner;
    bounds of the current population alone would shrink with it, and the survival's niche
    radius (measured in these units) with them, letting the population contract geometrically
    onto the best-scored point. The front's span measured from the running ideal shrinks
    only as the front itself approaches the ideal.

    Why a quantile, not the front's maximum: on DTLZ1/3 a few *dominance-resistant* points
    such as ``(150, 0, 0)`` (a far local front, but zero in every other objective) stay
    non-dominated for hundreds of generations. Taken as the nadir they stretched that
    objective's span a hundredfold, so the RankNet and the niche radius could no longer see
    it, and the population slid onto the front's boundary where that objective is zero (the
    stuck seeds at m = 3). The log beyond the nadir keeps such points ordered but bounded, so
    they neither saturate the RankNet nor vanish from it. A span is also kept at least
    ``min_span`` times the largest one: an objective that is constant over the front (DTLZ4
    after losing a region) would otherwise be divided by ~1e-12 and blow up at the first new
    value. (With the quantile it rescued DTLZ4 seed 3, not the DTLZ4 runs stuck among 21-40:
    see ``survival``'s note on extreme points.) Defaults in a run: ``NADIR_QUANTILE`` and
    ``MIN_SPAN``; ``fit``'s own defaults (maximum, no floor) are the bounds before issue 14.
    """

    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def fit(
        cls,
        F: np.ndarray,
        ideal: np.ndarray | None = None,
        quantile: float = 1.0,
        min_span: float = 0.0,
    ) -> ObjectiveNormalizer:
        F = np.asarray(F, dtype=float)
        lower = F.min(axis=0) if ideal is None else np.minimum(F.min(axis=0), ideal)
        front = F[NonDominatedSorting().do(F, only_non_dominated_front=True)]
        span = np.quantile(front, quantile, axis=0) - lower
        span = np.maximum(span, max(min_span * span.max(), 1e-12))
        return cls(lower=lower, upper=lower + span)

    def transform(self, F: np.ndarray) -> np.ndarray:
        z = (np.asarray(F, dtype=float) - self.lower) / (self.upper - self.lower)
        return np.where(z > 1.0, 1.0 + np.log(np.maximum(z, 1.0)), z)


class RankNet(nn.Module):
    """Small MLP mapping a (normalised) objective vector to a scalar score; higher = preferred."""

    def __init__(self, n_obj: int, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_obj, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def train_ranknet(
    model: RankNet,
    first: np.ndarray,
    second: np.ndarray,
    first_preferred: np.ndarray,
    loss: PreferenceLoss = "logistic",
    epochs: int = 200,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
) -> float:
    """Fit ``model`` full-batch on pairs ``(first[k], second[k])``; returns the final loss.

    ``first_preferred[k]`` is True where the DM chose ``first[k]``. Inputs are already
    normalised. ``"hinge"`` is the margin loss of the core package's ranking loss.
    """
    a = torch.as_tensor(first, dtype=torch.float32)
    b = torch.as_tensor(second, dtype=torch.float32)
    sign = torch.where(torch.as_tensor(first_preferred, dtype=torch.bool), 1.0, -1.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    value = torch.tensor(0.0)
    for _ in range(epochs):
        optimizer.zero_grad()
        s_a, s_b = model(a), model(b)
        if loss == "logistic":
            value = pairwise_logistic_loss(s_a, s_b, sign)
        elif loss == "hinge":
            value = pairwise_margin_loss(s_a, s_b, sign)
        else:
            raise ValueError(f"loss must be 'logistic' or 'hinge', got {loss!r}")
        value.backward()
        optimizer.step()
    model.eval()
    return float(value.detach())


@dataclass
class PreferenceModel:
    """All pairs the DM answered so far, and the RankNet (re)trained on them.

    Retraining warm-starts from the previous weights: the pair set only grows, so the previous
    fit is a good start and a short run per consultation suffices.

    """

    n_obj: int
    hidden: int = 32
    loss: PreferenceLoss = "logistic"
    epochs: int = 200
    seed: int = 0
    nadir_quantile: float = NADIR_QUANTILE
    min_span: float = MIN_SPAN
    first: list[np.ndarray] = field(default_factory=list)
    second: list[np.ndarray] = field(default_factory=list)
    first_preferred: list[bool] = field(default_factory=list)
    normalizer: ObjectiveNormalizer | None = None
    net: RankNet | None = None

    @property
    def n_pairs(self) -> int:
        return len(self.first_preferred)

    @property
    def is_trained(self) -> bool:
        return self.net is not None and self.normalizer is not None

    def add_pair(self, a: np.ndarray, b: np.ndarray, a_preferred: bool) -> None:
        self.first.append(np.asarray(a, dtype=float))
        self.second.append(np.asarray(b, dtype=float))
        self.first_preferred.append(bool(a_preferred))

    def fit(self, context: np.ndarray | None = None, ideal: np.ndarray | None = None) -> float:
        """Retrain on all pairs. The normaliser's bounds come from ``context`` (the current
        population) and ``ideal`` (best objective values seen in the run), or from the pairs
        when ``context`` is None."""
        if self.n_pairs == 0:
            raise ValueError("no pairs to train on")
        first, second = np.stack(self.first), np.stack(self.second)
        bounds_from = np.vstack([first, second]) if context is None else np.asarray(context)
        self.normalizer = ObjectiveNormalizer.fit(
            bounds_from, ideal, quantile=self.nadir_quantile, min_span=self.min_span
        )
        if self.net is None:
            torch.manual_seed(self.seed)
            self.net = RankNet(self.n_obj, self.hidden)
        return train_ranknet(
            self.net,
            self.normalizer.transform(first),
            self.normalizer.transform(second),
            np.asarray(self.first_preferred),
            loss=self.loss,
            epochs=self.epochs,
        )

    def score(self, F: np.ndarray) -> np.ndarray:
        """Scores of objective vectors ``F`` (``[n, m]``); higher means more preferred."""
        if not self.is_trained:
            raise RuntimeError("the preference model has not been trained yet")
        x = torch.as_tensor(self.normalizer.transform(F), dtype=torch.float32)
        with torch.no_grad():
            return self.net(x).numpy().astype(float)
