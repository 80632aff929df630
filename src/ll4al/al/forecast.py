"""What the next batch of labels is expected to buy, and whether a stop rule says to stop.

A learning curve ``metric(n labels)`` is fitted to the rounds so far and extrapolated by one
batch. The model is the inverse power law ``a - b * n**-c``, the standard learning-curve model
(Frey & Fisher 1999; Hestness et al. 2017; Figueroa et al. 2012 for medical images): gains
shrink as labels grow, towards an asymptote ``a``. It has three parameters, so it is fitted only
to three rounds or more (exactly through three); with two rounds the forecast falls back to the
log-linear curve ``a + b * ln n`` (constant gain per doubling: the power law's limit for small
``c``, optimistic later in a curve). One round gives no forecast.

The fit needs numpy alone: for a fixed ``c`` the model is linear in ``a`` and ``b`` (least
squares in closed form), and ``c`` is searched on a grid. ``ll4al status`` imports this module,
and it must not load scipy or torch.

The interval: a round's metric is noisy (a model trained from scratch on a few hundred labels
moves by about as much as a batch buys), so the error of a forecast gain is about the size of
the gains themselves. The spread ``s`` pools the run's own back-tests (for every earlier round
j >= 2: fit rounds 1..j, forecast round j + 1's gain, compare with the real one) with one prior
pseudo-error of the size of the larger of the last real gain and the forecast gain
(``PRIOR_SCALE`` times it); the interval is ``gain +- Z80 * s``, nominally 80%. The prior's
scale was chosen a priori (1: the last gain itself) and its coverage is measured on the
committed benchmark curves by ``benchmarks/stop_rule.py``
(``benchmarks/results/stop-rule/README.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ll4al.config import StopSettings

#: The exponents ``c`` searched by the power-law fit: flat (0.02) to steep (3).
EXPONENTS = np.concatenate([np.linspace(0.02, 1.0, 50), np.linspace(1.05, 3.0, 40)])
#: The normal quantile of a two-sided 80% interval.
Z80 = 1.2816
#: The prior pseudo-error's size, in units of max(|last real gain|, |forecast gain|).
PRIOR_SCALE = 1.0
#: A metric of 0..1 (accuracy, mAP, PCK, AUROC) reads in points: one point is 0.01.
POINTS = 100.0


@dataclass(frozen=True)
class CurveFit:
    """A fitted learning curve: ``a - b * n**-c`` (``model`` ``power``) or ``a + b * ln n``
    (``model`` ``log``)."""

    model: str
    a: float
    b: float
    c: float = 0.0

    def __call__(self, labels: float | np.ndarray) -> float | np.ndarray:
        n = np.asarray(labels, dtype=float)
        if self.model == "log":
            return self.a + self.b * np.log(n)
        return self.a - self.b * n ** (-self.c)

    @property
    def description(self) -> str:
        if self.model == "log":
            return "log-linear a + b ln n (two rounds)"
        return "inverse power law a - b n^-c"


def fit_curve(labels: Sequence[float], values: Sequence[float]) -> CurveFit:
    """The least-squares learning curve through ``(labels, values)``: the inverse power law
    from three points on, the log-linear curve with two. Raises ``ValueError`` with fewer than
    two points or labels that are not positive."""
    x = np.asarray(labels, dtype=float)
    y = np.asarray(values, dtype=float)
    if len(x) < 2 or len(x) != len(y):
        raise ValueError(f"a learning curve needs two rounds or more, got {len(x)}")
    if np.any(x <= 0):
        raise ValueError("a learning curve's label counts must be positive")
    if len(x) < 3:
        design = np.stack([np.ones_like(x), np.log(x)], axis=1)
        (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
        return CurveFit("log", float(a), float(b))
    best: tuple[float, float, float, float] | None = None
    for c in EXPONENTS:
        design = np.stack([np.ones_like(x), -(x ** (-c))], axis=1)
        (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
        sse = float(np.sum((design @ np.array([a, b]) - y) ** 2))
        if best is None or sse < best[0] - 1e-15:
            best = (sse, float(a), float(b), float(c))
    assert best is not None
    return CurveFit("power", best[1], best[2], best[3])


def curve_gain(labels: Sequence[float], values: Sequence[float], k: float) -> float:
    """The fitted curve's rise from the last round's label count to ``k`` more labels."""
    fit = fit_curve(labels, values)
    now = float(labels[-1])
    return float(fit(now + k) - fit(now))


@dataclass(frozen=True)
class Forecast:
    """The expected gain of the next ``k`` labels in the metric (0..1 scale) with its
    nominal-80% interval; ``backtests``: how many of the run's own earlier forecasts shaped
    the interval."""

    labeled: int
    k: int
    gain: float
    low: float
    high: float
    model: str
    rounds: int
    backtests: int

    @property
    def points(self) -> tuple[float, float, float]:
        """Gain, low and high in points (metric x 100)."""
        return self.gain * POINTS, self.low * POINTS, self.high * POINTS

    def per_100(self) -> float:
        """The forecast gain in points per 100 labels."""
        return self.gain * POINTS * 100.0 / self.k

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "labeled": self.labeled,
            "k": self.k,
            "gain": self.gain,
            "low": self.low,
            "high": self.high,
            "points_per_100": self.per_100(),
            "model": self.model,
            "rounds": self.rounds,
            "backtests": self.backtests,
        }


def forecast(
    labels: Sequence[float],
    values: Sequence[float],
    k: int,
    prior_scale: float = PRIOR_SCALE,
) -> Forecast | None:
    """The next ``k`` labels' expected gain from the rounds ``(labels, values)`` (in the order
    they were trained, label counts rising); None with fewer than two rounds.
    ``prior_scale``: the interval's prior (measured at other values by the benchmark)."""
    x = [float(v) for v in labels]
    y = [float(v) for v in values]
    if len(x) < 2:
        return None
    if k < 1:
        raise ValueError(f"a forecast needs k >= 1 labels, got {k}")
    gain = curve_gain(x, y, k)
    errors = [
        (y[j] - y[j - 1]) - curve_gain(x[:j], y[:j], x[j] - x[j - 1]) for j in range(2, len(x))
    ]
    prior = prior_scale * max(abs(y[-1] - y[-2]), abs(gain))
    spread = math.sqrt((prior**2 + sum(e * e for e in errors)) / (1 + len(errors)))
    fit_model = "power" if len(x) >= 3 else "log"
    return Forecast(
        labeled=int(x[-1]),
        k=int(k),
        gain=gain,
        low=gain - Z80 * spread,
        high=gain + Z80 * spread,
        model=fit_model,
        rounds=len(x),
        backtests=len(errors),
    )


#: Rounds a stop rule needs before it may fire: the power law's three.
RULE_MIN_ROUNDS = 3


@dataclass(frozen=True)
class StopCheck:
    """A stop rule's verdict after the last round: ``met``, and why, in one line."""

    met: bool
    reason: str
    forecasts: tuple[Forecast, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "met": self.met,
            "reason": self.reason,
            "forecasts": [f.to_dict() for f in self.forecasts],
        }


def _below(f: Forecast, rule: StopSettings, money_per_label: float) -> bool:
    """Whether one forecast falls under the rule's threshold (a gain of 0 or less is under
    any threshold: no price buys it)."""
    if rule.min_gain_per_100 is not None and f.per_100() < rule.min_gain_per_100:
        return True
    if rule.max_cost_per_point is not None:
        points = f.gain * POINTS
        return points <= 0 or money_per_label * f.k / points > rule.max_cost_per_point
    return False


def _threshold(rule: StopSettings) -> str:
    parts = []
    if rule.min_gain_per_100 is not None:
        parts.append(f"{rule.min_gain_per_100:g} points per 100 labels")
    if rule.max_cost_per_point is not None:
        parts.append(f"a price of {rule.max_cost_per_point:g} per point")
    return " or ".join(parts)


def stop_check(
    labels: Sequence[float],
    values: Sequence[float],
    k: int,
    rule: StopSettings,
    money_per_label: float = 0.0,
) -> StopCheck | None:
    """The rule's verdict on the rounds ``(labels, values)``: met when the forecast of the
    next ``k`` labels fell under its threshold after each of the last ``rule.patience``
    rounds (each forecast from the rounds up to it). None when no gain rule is set."""
    if not rule.on_gain:
        return None
    if rule.max_cost_per_point is not None and money_per_label <= 0:
        raise ValueError("stop.max_cost_per_point needs a price per label (cost.money > 0)")
    first = max(RULE_MIN_ROUNDS, len(labels) - rule.patience + 1)
    forecasts = tuple(
        f
        for r in range(first, len(labels) + 1)
        if (f := forecast(labels[:r], values[:r], k)) is not None
    )
    needed = rule.patience
    if len(labels) < RULE_MIN_ROUNDS + needed - 1:
        have = len(labels)
        return StopCheck(
            False,
            f"the stop rule needs {RULE_MIN_ROUNDS + needed - 1} evaluated rounds, {have} so far",
            forecasts,
        )
    under = all(_below(f, rule, money_per_label) for f in forecasts)
    last = forecasts[-1]
    shown = f"{last.per_100():+.2f} points per 100 labels"
    if under:
        rounds = "round" if needed == 1 else f"{needed} rounds in a row"
        return StopCheck(
            True,
            f"stop rule met: the next {k} labels' forecast gain stayed under "
            f"{_threshold(rule)} for {rounds} (last: {shown})",
            forecasts,
        )
    return StopCheck(
        False, f"stop rule not met: forecast {shown}, threshold {_threshold(rule)}", forecasts
    )


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float:
    """Cohen's kappa of two rounds' class predictions on the same samples: 1 = the same,
    0 = as much agreement as chance (1 where both predict one and the same class)."""
    x, y = np.asarray(a), np.asarray(b)
    if len(x) != len(y) or not len(x):
        raise ValueError("kappa needs two equally long, non-empty prediction lists")
    observed = float(np.mean(x == y))
    classes = np.union1d(x, y)
    chance = float(sum(np.mean(x == c) * np.mean(y == c) for c in classes))
    return 1.0 if chance >= 1.0 else (observed - chance) / (1.0 - chance)


def agreement_check(agreements: Sequence[float | None], rule: StopSettings) -> StopCheck | None:
    """The stabilizing-predictions rule on the rounds' kappas (None: a round with no previous
    one to compare with): met when the last ``rule.patience`` are all >= ``min_agreement``.
    None when the rule is off."""
    if rule.min_agreement is None:
        return None
    last = list(agreements)[-rule.patience :]
    known = [k for k in last if k is not None]
    if len(known) < rule.patience:
        return StopCheck(
            False,
            f"the agreement rule needs {rule.patience} rounds compared, {len(known)} so far",
            (),
        )
    shown = ", ".join(f"{k:.3f}" for k in known)
    if all(k >= rule.min_agreement for k in known):
        return StopCheck(
            True,
            f"stop rule met: successive rounds' predictions on the stop set agree "
            f"(kappa {shown} >= {rule.min_agreement:g})",
            (),
        )
    return StopCheck(
        False, f"agreement rule not met: kappa {shown}, threshold {rule.min_agreement:g}", ()
    )
