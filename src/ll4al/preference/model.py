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


@dataclass
class ObjectiveNormalizer:
    """Affine map of objective vectors, ``(f - ideal) / (nadir - ideal)``, per objective.

    ``ideal`` is the best value of each objective seen so far in the run and ``nadir`` the
    worst of each objective over the current non-dominated front, refitted at each
    consultation and frozen until the next one (scores within ``tau`` generations stay
    comparable). Why these bounds: DTLZ1/3 start with objectives in the hundreds and end below
    one, so bounds that remember old populations would squash the current one into a corner;
    bounds of the current population alone would shrink with it, and the survival's niche
    radius (measured in these units) with them, letting the population contract geometrically
    onto the best-scored point. The front's span measured from the running ideal shrinks
    only as the front itself approaches the ideal.
    """

    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def fit(cls, F: np.ndarray, ideal: np.ndarray | None = None) -> ObjectiveNormalizer:
        F = np.asarray(F, dtype=float)
        lower = F.min(axis=0) if ideal is None else np.minimum(F.min(axis=0), ideal)
        front = F[NonDominatedSorting().do(F, only_non_dominated_front=True)]
        return cls(lower=lower, upper=np.maximum(front.max(axis=0), lower + 1e-12))

    def transform(self, F: np.ndarray) -> np.ndarray:
        return (np.asarray(F, dtype=float) - self.lower) / (self.upper - self.lower)


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
        self.normalizer = ObjectiveNormalizer.fit(bounds_from, ideal)
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
