"""The learning-curve forecast and the stop rule (``ll4al.al.forecast``)."""

from __future__ import annotations

import numpy as np
import pytest

from ll4al.al.forecast import fit_curve, forecast, stop_check
from ll4al.config import ConfigError, StopSettings, build_settings

LABELS = [100, 200, 300, 400, 500, 600, 700, 800]


def power(n: float) -> float:
    return 0.9 - 2.0 * n**-0.5


def test_the_power_law_is_recovered_from_exact_rounds_and_forecasts_their_gain():
    values = [power(n) for n in LABELS]
    fit = fit_curve(LABELS, values)
    assert fit.model == "power"
    assert fit.a == pytest.approx(0.9, abs=1e-3) and fit.c == pytest.approx(0.5, abs=0.02)
    predicted = forecast(LABELS, values, 100)
    assert predicted is not None and predicted.model == "power" and predicted.backtests == 6
    assert predicted.gain == pytest.approx(power(900) - power(800), rel=0.05)
    assert predicted.low <= predicted.gain <= predicted.high


def test_two_rounds_fall_back_to_the_log_linear_curve_and_one_gives_nothing():
    predicted = forecast([100, 200], [0.5, 0.6], 200)
    assert predicted is not None and predicted.model == "log" and predicted.backtests == 0
    assert predicted.gain == pytest.approx(0.1 * np.log(2) / np.log(2))  # one more doubling
    # the interval: the prior alone, as wide as the last real gain, nominal 80%
    assert predicted.high - predicted.gain == pytest.approx(1.2816 * 0.1)
    assert forecast([100], [0.5], 100) is None


def test_the_interval_widens_with_a_noisy_curve():
    rng = np.random.default_rng(0)
    smooth = [power(n) for n in LABELS]
    noisy = [v + rng.normal(0, 0.02) for v in smooth]
    a, b = forecast(LABELS, smooth, 100), forecast(LABELS, noisy, 100)
    assert a is not None and b is not None
    assert b.high - b.low > 2 * (a.high - a.low)


def test_the_stop_rule_needs_its_rounds_and_fires_on_a_flat_curve():
    flat = [0.5, 0.6, 0.65, 0.67, 0.675, 0.677, 0.678, 0.6785]
    rule = StopSettings(min_gain_per_100=0.5, patience=2)
    assert stop_check(LABELS, flat, 100, StopSettings()) is None  # off
    early = stop_check(LABELS[:3], flat[:3], 100, rule)
    assert early is not None and not early.met and "needs 4 evaluated rounds" in early.reason
    steep = stop_check(LABELS[:4], flat[:4], 100, rule)
    assert steep is not None and not steep.met and "not met" in steep.reason
    late = stop_check(LABELS, flat, 100, rule)
    assert late is not None and late.met and "2 rounds in a row" in late.reason
    assert len(late.forecasts) == 2


def test_the_money_rule_prices_a_point_and_needs_a_price():
    flat = [0.5, 0.6, 0.65, 0.67, 0.675, 0.677, 0.678, 0.6785]
    check = stop_check(LABELS, flat, 100, StopSettings(max_cost_per_point=1000, patience=1), 25)
    # 100 labels at 25 cost 2,500 for well under one point: above 1,000 a point
    assert check is not None and check.met and "a price of 1000 per point" in check.reason
    cheap = stop_check(LABELS, flat, 100, StopSettings(max_cost_per_point=1e6, patience=1), 25)
    assert cheap is not None and not cheap.met
    with pytest.raises(ValueError, match="needs a price per label"):
        stop_check(LABELS, flat, 100, StopSettings(max_cost_per_point=1000), 0)


def test_a_stop_rule_is_checked_key_by_key():
    with pytest.raises(ConfigError, match="min_gain_per_100 must be > 0"):
        build_settings(StopSettings, {"min_gain_per_100": -1}, "stop")
    with pytest.raises(ConfigError, match="patience must be >= 1"):
        build_settings(StopSettings, {"min_gain_per_100": 1, "patience": 0}, "stop")
    with pytest.raises(ConfigError, match="unknown key stop.'kappa'"):
        build_settings(StopSettings, {"kappa": 0.9}, "stop")


def test_kappa_and_the_agreement_rule():
    from ll4al.al.forecast import agreement_check, cohen_kappa

    assert cohen_kappa([0, 1, 2, 1], [0, 1, 2, 1]) == 1.0
    assert cohen_kappa([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0)
    assert cohen_kappa([3, 3], [3, 3]) == 1.0  # one class on both sides
    rule = StopSettings(stop_set=100, min_agreement=0.9, patience=2)
    assert agreement_check([None, 0.95], rule).met is False  # one round compared so far
    assert agreement_check([None, 0.8, 0.95, 0.97], rule).met is True
    assert agreement_check([None, 0.95, 0.85], rule).met is False
    assert agreement_check([None, 0.95, 0.97], StopSettings(stop_set=10)) is None
    with pytest.raises(ConfigError, match="min_agreement needs a stop_set"):
        build_settings(StopSettings, {"min_agreement": 0.9}, "stop")
