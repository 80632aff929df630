"""``results.jsonl`` -> a Markdown report and one PNG: what a run says about its strategies.

The report holds the metric per strategy and labeled count, the area under each learning curve
(AULC), the loss prediction module's ranking accuracy, the paired difference to a baseline and
the labels each strategy needed to reach the baseline's final metric (with what that saves in
annotation time and money at a given rate per label).
Every spread is the sample standard deviation over seeds (ddof=1): with the 2-5 seeds an
active-learning run can afford, the population std (ddof=0) understates the seed noise.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ll4al.experiments.results import read_report_records
from ll4al.files import atomic_path, write_text_atomic

REPORT_FILE = "report.md"
PLOT_FILE = "learning_curves.png"
DEFAULT_BASELINE = "random"
RANKING = "ranking_accuracy"

Curves = dict[str, dict[int, dict[int, float]]]
"""``{strategy: {seed: {labeled: value}}}``: one learning curve per strategy and seed."""
Stat = tuple[float, float, int]
"""``(mean, sample std, number of seeds)``; the std is nan for a single seed."""


class ReportError(ValueError):
    """Results that cannot be reported as asked: no records, unknown metric or baseline."""


def metric_names(records: list[dict[str, Any]]) -> list[str]:
    """The numeric keys a report can summarise: every recorded number but seed, cycle, labeled."""
    numeric = {
        key
        for r in records
        for key, value in r.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    return sorted(numeric - {"seed", "cycle", "labeled"})


def seed_curves(records: list[dict[str, Any]], metric: str = "accuracy") -> Curves:
    """Group ``metric`` by strategy, seed and labeled count (records without it are skipped)."""
    curves: dict[str, dict[int, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in records:
        if metric in r:
            curves[r["strategy"]][r["seed"]][r["labeled"]] = float(r[metric])
    return {
        strategy: {seed: dict(sorted(curve.items())) for seed, curve in sorted(by_seed.items())}
        for strategy, by_seed in sorted(curves.items())
    }


def mean_std(values: Sequence[float]) -> Stat:
    """Mean, sample std (ddof=1; nan for one value, which says nothing about spread), count."""
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan, len(v)


def _counts(by_seed: Mapping[int, Mapping[int, float]]) -> list[int]:
    """The labeled counts that any of these seeds reached."""
    return sorted({n for curve in by_seed.values() for n in curve})


def _all_counts(curves: Curves) -> list[int]:
    return sorted({n for by_seed in curves.values() for n in _counts(by_seed)})


def stats_by_count(by_seed: Mapping[int, Mapping[int, float]]) -> dict[int, Stat]:
    """Mean and std over seeds at each labeled count that any seed reached."""
    return {n: mean_std([c[n] for c in by_seed.values() if n in c]) for n in _counts(by_seed)}


def summarize(
    records: list[dict[str, Any]], metric: str = "accuracy"
) -> dict[str, dict[int, Stat]]:
    """``{strategy: {labeled: (mean, std, n_seeds)}}`` of ``metric`` (std with ddof=1)."""
    return {s: stats_by_count(by_seed) for s, by_seed in seed_curves(records, metric).items()}


def paired_differences(curves: Curves, baseline: str) -> Curves:
    """``strategy - baseline`` per seed and labeled count, for every other strategy. Pairing by
    seed is valid because one seed gives all strategies the same initial labeled set, model
    initialisation and pool subsampling, so it removes that share of the seed noise."""
    base = curves[baseline]
    diffs: Curves = {}
    for strategy, by_seed in curves.items():
        if strategy == baseline:
            continue
        paired = {
            seed: {n: v - base[seed][n] for n, v in curve.items() if n in base[seed]}
            for seed, curve in by_seed.items()
            if seed in base
        }
        diffs[strategy] = {seed: d for seed, d in paired.items() if d}
    return diffs


def shared_counts(curves: Curves) -> list[int]:
    """The labeled counts every strategy reached (with some seed): the only fair AULC range."""
    reached = [set(_counts(by_seed)) for by_seed in curves.values()]
    return sorted(set.intersection(*reached)) if reached else []


def aulc(curve: Mapping[int, float], counts: Sequence[int]) -> float:
    """Trapezoid area under ``curve`` over ``counts`` divided by the labeled range: the mean
    metric over the labeling budget, in the metric's own units."""
    x = np.asarray(counts, dtype=float)
    y = np.array([curve[n] for n in counts])
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2) / (x[-1] - x[0]))


def aulc_by_seed(curves: Curves, counts: Sequence[int]) -> dict[str, dict[int, float]]:
    """AULC over ``counts`` per strategy and seed; seeds missing one of the counts are left out
    rather than compared over a shorter (easier or harder) range."""
    return {
        strategy: {
            seed: aulc(curve, counts)
            for seed, curve in by_seed.items()
            if all(n in curve for n in counts)
        }
        for strategy, by_seed in curves.items()
    }


@dataclass(frozen=True)
class _Units:
    """How a metric reads: fractions in % (differences in percentage points), others as they
    are; a metric named like a loss or an error (``mean_pixel_error``) is better when lower."""

    scale: float
    digits: int
    unit: str
    diff_unit: str
    higher_is_better: bool

    @classmethod
    def of(cls, records: list[dict[str, Any]], metric: str) -> _Units:
        lossy = "loss" in metric or "error" in metric
        if not lossy and all(0 <= r[metric] <= 1 for r in records if metric in r):
            return cls(100.0, 2, "%", "pp", True)
        return cls(1.0, 4, "", "", not lossy)

    def suffix(self, diff: bool = False) -> str:
        """`` (%)`` for a value, `` (pp)`` for a difference, nothing for a raw metric."""
        unit = self.diff_unit if diff else self.unit
        return f" ({unit})" if unit else ""

    def cell(self, stat: Stat | None, signed: bool = False) -> str:
        """``mean ± std``; just the mean for one seed, ``-`` for no result."""
        if stat is None:
            return "-"
        mean, std, _ = stat
        text = f"{self.scale * mean:{'+' if signed else ''}.{self.digits}f}"
        return text if math.isnan(std) else f"{text} ± {self.scale * std:.{self.digits}f}"


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], text: int = 0) -> str:
    """A Markdown table padded to aligned columns, so it reads in a terminal as well as rendered;
    the first ``text`` columns align left, the numbers right."""
    widths = [max(3, *map(len, col)) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = (
            c.ljust(w) if i < text else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join("-" * (w + 2) if i < text else "-" * (w + 1) + ":" for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), rule, *map(line, rows)])


def _count_table(curves: Curves, units: _Units, signed: bool = False) -> str:
    """Mean ± std over seeds: one row per labeled count, one column per strategy."""
    stats = {strategy: stats_by_count(by_seed) for strategy, by_seed in curves.items()}
    rows = [
        [str(n), *(units.cell(stats[s].get(n), signed) for s in stats)] for n in _all_counts(curves)
    ]
    return _markdown_table(["labeled", *stats], rows)


def format_table(records: list[dict[str, Any]], metric: str = "accuracy") -> str:
    """The metric as a Markdown table: one row per labeled count, one column per strategy."""
    curves = seed_curves(records, metric)
    units = _Units.of(records, metric)
    table = _count_table(curves, units)
    seeds = "/".join(str(n) for n in sorted({len(by_seed) for by_seed in curves.values()}))
    return (
        f"{table}\n\n{metric}{units.suffix()}: mean ± std over {seeds} seed(s); "
        "std is the sample std (ddof=1), left out for one seed; - = no result."
    )


def _resolve_baseline(curves: Curves, baseline: str | None, metric: str) -> str | None:
    """The baseline to compare with (an explicit one must exist; by default ``random`` if
    present), or None when there is nothing to compare it with."""
    if baseline is not None and baseline not in curves:
        have = ", ".join(curves) or "none"
        raise ReportError(f"baseline {baseline!r} has no {metric!r} results (strategies: {have})")
    chosen = baseline or DEFAULT_BASELINE
    return chosen if chosen in curves and len(curves) > 1 else None


def _check_metric(records: list[dict[str, Any]], metric: str) -> None:
    names = metric_names(records)
    if metric not in names:
        raise ReportError(f"unknown metric {metric!r}; choose one of: {', '.join(names)}")


def _span(counts: Sequence[int]) -> str:
    return f"{counts[0]}-{counts[-1]}" if len(counts) > 1 else str(counts[0])


def _join(items: Sequence[Any]) -> str:
    return ", ".join(map(str, items))


def _seeds_section(curves: Curves) -> list[str]:
    """Who has how many seeds and cycles, a plain warning about too few seeds, missing cycles."""
    everywhere = _all_counts(curves)
    rows: list[list[str]] = []
    notes: list[str] = []
    for strategy, by_seed in curves.items():
        counts = _counts(by_seed)
        seeds = f"{len(by_seed)} ({_join(list(by_seed))})"
        rows.append([strategy, seeds, f"{_span(counts)} ({len(counts)})"])
        missing: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for seed, curve in by_seed.items():
            gap = tuple(n for n in everywhere if n not in curve)
            if gap:
                missing[gap].append(seed)
        notes += [
            f"- {strategy} seed {_join(ids)}: no result at labeled {_join(gap)}"
            for gap, ids in missing.items()
        ]
    lines = [
        "## Seeds",
        "",
        _markdown_table(["strategy", "seeds", "labeled (cycles)"], rows, text=1),
        "",
        "Strategies differ by chance from seed to seed, so a comparison means something only "
        "over several seeds (3 or more): treat a gap smaller than its std as noise.",
    ]
    few = [s for s, by_seed in curves.items() if len(by_seed) < 2]
    if few:
        lines += [
            "",
            f"> **Warning:** {_join(few)} {'has' if len(few) == 1 else 'have'} a single seed: "
            "no std, and no way to tell a difference from seed noise. Run more seeds "
            "(e.g. `--set seeds=[0,1,2]`) before comparing.",
        ]
    if notes:
        lines += ["", "Missing cycles (an unfinished run, or runs of different configs):", *notes]
    return lines


def _aulc_section(curves: Curves, baseline: str | None, metric: str, units: _Units) -> list[str]:
    """AULC per strategy over the labeled counts all strategies share, and paired to baseline."""
    counts = shared_counts(curves)
    left_out = [n for n in _all_counts(curves) if n not in counts]
    short = [s for s, by_seed in curves.items() if set(left_out) - set(_counts(by_seed))]
    why = f" (not reached by {_join(short)})" if left_out else ""
    lines = ["## Area under the learning curve", ""]
    if len(counts) < 2:
        return [*lines, f"Not computed: the strategies share fewer than two labeled counts{why}."]
    per_seed = aulc_by_seed(curves, counts)
    text = (
        f"Per seed, the trapezoid rule over labeled {_span(counts)} ({len(counts)} counts) "
        f"divided by the labeled range: the mean {metric}{units.suffix()} over the labeling "
        "budget; then mean ± std over seeds."
    )
    if left_out:
        text += f" Labeled {_join(left_out)} left out{why}."
    incomplete = [
        f"{s} seed {_join([seed for seed in curves[s] if seed not in by_seed])}"
        for s, by_seed in per_seed.items()
        if len(by_seed) < len(curves[s])
    ]
    if incomplete:
        text += f" Left out for an incomplete curve: {'; '.join(incomplete)}."
    header = ["strategy", "seeds", f"AULC{units.suffix()}"]
    if baseline:
        header.append(f"AULC - {baseline}{units.suffix(diff=True)}")
        text += f" The last column pairs seeds: AULC minus the {baseline} AULC of the same seed."
    rows: list[list[str]] = []
    for strategy, by_seed in per_seed.items():
        stat = mean_std(list(by_seed.values())) if by_seed else None
        row = [strategy, str(len(by_seed)), units.cell(stat)]
        if baseline:
            base = per_seed[baseline]
            diff = [v - base[seed] for seed, v in by_seed.items() if seed in base]
            cell = units.cell(mean_std(diff), signed=True) if diff and strategy != baseline else "-"
            row.append(cell if len(diff) in (0, len(by_seed)) else f"{cell} (n={len(diff)})")
        rows.append(row)
    return [*lines, text, "", _markdown_table(header, rows, text=1)]


def _paired_section(curves: Curves, baseline: str, metric: str, units: _Units) -> list[str]:
    """Per labeled count, strategy minus baseline under the same seed; wins at the last cycle."""
    diffs = paired_differences(curves, baseline)
    better = "higher" if units.higher_is_better else "lower"
    wins: list[list[str]] = []
    for strategy, by_seed in diffs.items():
        if not by_seed:
            wins.append([strategy, "-"])
            continue
        last = max(n for c in by_seed.values() for n in c)
        at_last = [c[last] for c in by_seed.values() if last in c]
        won = sum(d > 0 if units.higher_is_better else d < 0 for d in at_last)
        ties = sum(d == 0 for d in at_last)
        tied = f", {ties} tied" if ties else ""
        wins.append([strategy, f"{won}/{len(at_last)} at labeled {last}{tied}"])
    return [
        f"## Paired difference to {baseline}",
        "",
        f"{metric} of the strategy minus {metric} of {baseline} under the same seed"
        f"{units.suffix(diff=True)}, mean ± std over the seeds both have. One seed gives both "
        "the same initial labeled set, model initialisation and pool subsampling, so pairing "
        f"removes that share of the noise. {better.capitalize()} is better.",
        "",
        _count_table(diffs, units, signed=True),
        "",
        _markdown_table(
            ["strategy", f"seeds {better} than {baseline} at the last cycle"], wins, text=1
        ),
    ]


@dataclass(frozen=True)
class LabelsToReach:
    """What :func:`labels_to_reach_baseline` found: the baseline's final labeled count and
    ``target`` (its mean metric there over ``target_seeds`` seeds), and per strategy and seed
    the labeled count where that seed's curve first reaches the target (None: never)."""

    baseline: str
    final: int
    target: float
    target_seeds: int
    labels: dict[str, dict[int, float | None]]


def _reaches(value: float, target: float, higher_is_better: bool) -> bool:
    """At least as good as ``target``; a float-rounding hair short of it counts as reaching it
    (the target is a mean, so a seed that scored exactly it may land 1e-17 below)."""
    good = value >= target if higher_is_better else value <= target
    return good or math.isclose(value, target, rel_tol=1e-9, abs_tol=1e-12)


def labels_to_reach(
    curve: Mapping[int, float], target: float, higher_is_better: bool = True
) -> float | None:
    """The labeled count where ``curve`` (``{labeled: metric}``) first reaches ``target``, or
    None if it never does. Between the last count short of the target and the first that
    reaches it the metric is taken as linear in the labeled count, so the answer is interpolated
    there; a curve that reaches the target at its first count gives that count (it may have
    needed fewer, which the curve cannot tell). ``higher_is_better=False`` for losses and errors:
    reaching then means getting down to the target."""
    previous: tuple[int, float] | None = None
    for n, value in sorted(curve.items()):
        if _reaches(value, target, higher_is_better):
            if previous is None:
                return float(n)
            n0, v0 = previous
            share = min(1.0, (target - v0) / (value - v0))
            return n0 + share * (n - n0)
        previous = (n, value)
    return None


def labels_to_reach_baseline(
    curves: Curves,
    baseline: str,
    higher_is_better: bool = True,
    reference: Curves | None = None,
) -> LabelsToReach:
    """The labels each strategy's seeds needed to reach the baseline's final metric.

    The target is the baseline's metric at its last labeled count (the largest any of its seeds
    reached), averaged over the seeds with a result there; with ``reference`` (the curves of
    another run, e.g. random from scratch at 4,000 labels), the baseline's in that run, so a
    protocol that starts elsewhere is measured against it. For every strategy, the baseline
    included, and every seed, :func:`labels_to_reach` gives where that seed's own curve first
    reaches the target, interpolated linearly between the two counts that bracket the crossing.
    A seed whose curve never reaches it (or stops before it does) gets None: averaging only the
    seeds that did would pick the lucky ones, so callers report such a strategy as not reached
    rather than as a mean of partial data."""
    base = (reference if reference is not None else curves)[baseline]
    final = max(_counts(base))
    at_final = [curve[final] for curve in base.values() if final in curve]
    target = float(np.mean(at_final))
    labels = {
        strategy: {
            seed: labels_to_reach(curve, target, higher_is_better)
            for seed, curve in by_seed.items()
        }
        for strategy, by_seed in curves.items()
    }
    return LabelsToReach(baseline, final, target, len(at_final), labels)


def _check_cost(cost_minutes: float | None, cost_money: float | None, currency: str | None) -> None:
    for name, value in (("--cost-minutes", cost_minutes), ("--cost-money", cost_money)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ReportError(f"{name} is a cost per label: a number >= 0, not {value}")
    if currency and cost_money is None:
        raise ReportError("--currency names the unit of --cost-money: pass --cost-money too")


def _labels_section(
    curves: Curves,
    baseline: str,
    metric: str,
    units: _Units,
    cost_minutes: float | None = None,
    cost_money: float | None = None,
    currency: str | None = None,
    reference: tuple[str, Curves] | None = None,
) -> list[str]:
    """Per strategy, the mean labels its seeds needed to reach the baseline's final metric,
    the labels that saves against the baseline's final count, and what they cost to annotate.
    ``reference`` (a name and its curves): the baseline of that other run sets the target.

    The mean is taken only when every seed of the strategy reached the target; otherwise the
    entry says in how many seeds it was not reached and no mean, saving or cost is shown. A
    seed whose curve stops short of the run's last labeled count without having reached the
    target is still running: it is left out and named, not counted as a miss."""
    ref_name, ref_curves = reference if reference is not None else (None, None)
    found = labels_to_reach_baseline(curves, baseline, units.higher_is_better, ref_curves)
    target = f"{units.scale * found.target:.{units.digits}f}{units.unit}"
    whose = f"{baseline}'s final {metric}" + (f" in {ref_name}" if ref_name else "")
    header = ["strategy", f"labels to reach {whose}", "seeds reaching it"]
    header.append("labels saved")
    if cost_minutes is not None:
        header.append("annotation time saved (hours)")
    if cost_money is not None:
        header.append(f"money saved ({currency})" if currency else "money saved")
    costs = [c for c in (cost_minutes, cost_money) if c is not None]
    rows: list[list[str]] = []
    bounded: list[str] = []
    unfinished: list[str] = []
    last = max(_all_counts(curves))  # where this run's finished curves end
    if ref_name:
        rows.append([f"{baseline} ({ref_name})", str(found.final), "-", "-", *("-" for _ in costs)])
    for strategy, by_seed in found.labels.items():
        if strategy == baseline and not ref_name:
            rows.append([strategy, str(found.final), "-", "-", *("-" for _ in costs)])
            continue
        # a seed still running (short of ``last``, the target not reached yet) is not a miss
        running = [s for s, n in by_seed.items() if n is None and max(curves[strategy][s]) < last]
        if running:
            unfinished.append(f"{strategy} seed {_join(running)}")
            by_seed = {s: n for s, n in by_seed.items() if s not in running}
        if not by_seed:
            rows.append([strategy, "unfinished", "-", "-", *("-" for _ in costs)])
            continue
        reached = {seed: n for seed, n in by_seed.items() if n is not None}
        seeds = f"{len(reached)}/{len(by_seed)}"
        if len(reached) < len(by_seed):
            missed = f"not reached in {len(by_seed) - len(reached)} of {len(by_seed)} seeds"
            rows.append([strategy, missed, seeds, "-", *("-" for _ in costs)])
            continue
        mean, std, _ = mean_std(list(reached.values()))
        first = [seed for seed, n in reached.items() if n == min(curves[strategy][seed])]
        cell = f"{mean:.1f}" if math.isnan(std) else f"{mean:.1f} ± {std:.1f}"
        if first:
            cell = f"≤ {cell}"
            bounded.append(f"{strategy} seed {_join(first)}")
        saved = found.final - mean
        row = [strategy, cell, seeds, f"{saved:.1f} ({100 * saved / found.final:.1f}%)"]
        if cost_minutes is not None:
            row.append(f"{saved * cost_minutes / 60:,.2f}")
        if cost_money is not None:
            row.append(f"{saved * cost_money:,.2f}")
        rows.append(row)
    base_seeds = len((ref_curves or curves)[baseline])
    seeds_note = (
        f"its {found.target_seeds} seeds"
        if found.target_seeds == base_seeds
        else f"the {found.target_seeds} of its {base_seeds} seeds with a result there"
    )
    reach = "at least" if units.higher_is_better else "at most"
    text = (
        f"The target is {whose.replace(' final ', ' ')} at its last labeled count, {found.final}: "
        f"{target}, the mean over {seeds_note}. Per seed, the labeled count where the "
        f"strategy's learning curve first reaches it ({reach} the target), interpolated "
        "linearly between the two cycles that bracket the crossing; then mean ± std over seeds, "
        "only if every seed reached it (a mean of the seeds that did would flatter the "
        f"strategy). Labels saved: {found.final} minus that mean, and its share of "
        f"{found.final}. The {baseline}{f' ({ref_name})' if ref_name else ''} row is its final "
        "labeled count."
    )
    rates = []
    if cost_minutes is not None:
        rates.append(f"{cost_minutes:g} minutes")
    if cost_money is not None:
        rates.append(f"{cost_money:g} {currency}" if currency else f"{cost_money:g}")
    if rates:
        text += f" Annotation cost per label: {' and '.join(rates)}."
    if bounded:
        text += (
            f" ≤: reached at the first labeled count ({'; '.join(bounded)}), which may be more "
            "labels than it needed."
        )
    if unfinished:
        text += (
            f" Left out as unfinished (short of labeled {last}, the target not reached yet): "
            f"{'; '.join(unfinished)}."
        )
    return [
        f"## Labels to reach {whose}",
        "",
        text,
        "",
        _markdown_table(header, rows, text=1),
    ]


def build_report(
    records: list[dict[str, Any]],
    metric: str = "accuracy",
    baseline: str | None = None,
    title: str = "",
    plot_name: str = PLOT_FILE,
    cost_minutes: float | None = None,
    cost_money: float | None = None,
    currency: str | None = None,
    reference: tuple[str, list[dict[str, Any]]] | None = None,
) -> str:
    """The Markdown report of ``records``; ``baseline=None`` compares with ``random`` if present.
    ``cost_minutes`` and ``cost_money`` (in ``currency``) are the annotation cost per label: given,
    the labels each strategy saves against the baseline are also shown as hours and money.
    ``reference`` (a name and the records of another run): the labels saved are counted against
    that run's baseline at its final count instead, e.g. random from scratch at 4,000 labels."""
    _check_metric(records, metric)
    _check_cost(cost_minutes, cost_money, currency)
    curves = seed_curves(records, metric)
    baseline = _resolve_baseline(curves, baseline, metric)
    units = _Units.of(records, metric)
    intro = (
        f"`{metric}` of {len(curves)} strategies from {len(records)} records. Mean ± std over "
        "seeds, where std is the sample standard deviation (ddof=1) across seeds, shown from "
        "2 seeds on; `-` means no result."
    )
    if units.diff_unit:
        intro += " Differences are in percentage points (pp)."
    lines = [
        f"# Active-learning report{': ' + title if title else ''}",
        "",
        intro,
        "",
        *_seeds_section(curves),
        "",
        f"## {metric}{units.suffix()}",
        "",
        format_table(records, metric),
        "",
        *_aulc_section(curves, baseline, metric, units),
        "",
    ]
    if baseline:
        lines += [*_paired_section(curves, baseline, metric, units), ""]
        cost = (cost_minutes, cost_money, currency)
        ref = None
        if reference is not None:
            ref_name, ref_records = reference
            _check_metric(ref_records, metric)
            ref = (ref_name, seed_curves(ref_records, metric))
            if baseline not in ref[1]:
                raise ReportError(f"the reference run {ref_name} has no {baseline!r} strategy")
        lines += [*_labels_section(curves, baseline, metric, units, *cost, ref), ""]
    elif len(curves) > 1:
        lines += [f"No paired comparison: no {DEFAULT_BASELINE!r} strategy (see --baseline).", ""]
    ranking = seed_curves(records, RANKING)
    if ranking:
        lines += [
            "## LPM ranking accuracy (%)",
            "",
            "Per cycle, the share of test-sample pairs whose loss order the loss prediction "
            "module predicts correctly (50 = chance); mean ± std over seeds.",
            "",
            _count_table(ranking, _Units.of(records, RANKING)),
            "",
        ]
    return "\n".join([*lines, f"![learning curves]({plot_name})", ""])


def plot_learning_curves(
    records: list[dict[str, Any]],
    path: str | Path,
    metric: str = "accuracy",
    title: str = "",
    baseline: str | None = None,
) -> Path:
    """One PNG: mean learning curve per strategy with a shaded ± std band and, next to it, the
    paired difference to the baseline (``random`` by default, if present)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = seed_curves(records, metric)
    baseline = _resolve_baseline(curves, baseline, metric)
    units = _Units.of(records, metric)
    colors = {s: f"C{i}" for i, s in enumerate(curves)}
    panels = 2 if baseline else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.4 * panels, 4.6), dpi=120, squeeze=False)

    def draw(ax: Any, by_seed: Mapping[int, Mapping[int, float]], strategy: str) -> None:
        stats = stats_by_count(by_seed)
        counts = np.array(list(stats))
        mean = np.array([stats[n][0] for n in counts]) * units.scale
        std = np.array([stats[n][1] for n in counts]) * units.scale
        label = f"{strategy} ({len(by_seed)} seed{'s' * (len(by_seed) != 1)})"
        ax.plot(counts, mean, marker="o", color=colors[strategy], label=label)
        ax.fill_between(counts, mean - std, mean + std, color=colors[strategy], alpha=0.15)

    ax = axes[0, 0]
    for strategy, by_seed in curves.items():
        draw(ax, by_seed, strategy)
    ax.set_ylabel(f"{metric}{units.suffix()}")
    ax.set_title("Learning curves (mean ± std over seeds)")
    if baseline:
        ax = axes[0, 1]
        ax.axhline(0, color=colors[baseline], linestyle="--", label=baseline)
        for strategy, diffs in paired_differences(curves, baseline).items():
            if diffs:
                draw(ax, diffs, strategy)
        ax.set_ylabel(f"{metric} - {baseline}{units.suffix(diff=True)}")
        ax.set_title(f"Paired difference to {baseline} (same seed)")
    counts = _all_counts(curves)
    for ax in axes[0]:
        if len(counts) <= 12:
            ax.set_xticks(counts)
        ax.set_xlabel("labeled samples")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title or f"Active learning: {metric}")
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_path(path) as tmp:  # a kill mid-save leaves the old PNG, not half a new one
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path


def write_report(
    results: str | Path,
    out_dir: str | Path | None = None,
    metric: str | None = None,
    baseline: str | None = None,
    title: str = "",
    cost_minutes: float | None = None,
    cost_money: float | None = None,
    currency: str | None = None,
    reference: str | Path | None = None,
) -> tuple[str, Path, Path]:
    """Write ``report.md`` and ``learning_curves.png`` for a ``results.jsonl`` into ``out_dir``
    (default: beside it); returns the Markdown and both paths. ``ll4al report`` and the end of
    ``ll4al run`` both call this, so they say the same thing. ``metric`` defaults to the task's
    primary metric, which each record names (records of earlier versions: accuracy).
    ``cost_minutes`` and ``cost_money`` (in ``currency``) per label price the labels saved;
    ``reference``, another run's ``results.jsonl``, sets the target of the labels saved."""
    _check_cost(cost_minutes, cost_money, currency)
    results = Path(results)
    out = Path(out_dir) if out_dir is not None else results.parent
    records = read_report_records(results)
    if not records:
        raise ReportError(f"{results} holds no results yet: no cycle has finished")
    metric = metric or records[0].get("primary_metric", "accuracy")
    title = title or results.resolve().parent.name
    cost = {"cost_minutes": cost_minutes, "cost_money": cost_money, "currency": currency}
    ref = None
    if reference is not None:
        reference = Path(reference)
        ref_records = read_report_records(reference)
        if not ref_records:
            raise ReportError(f"{reference} holds no results: no reference to measure against")
        ref = (reference.resolve().parent.name, ref_records)
    text = build_report(records, metric, baseline, title, **cost, reference=ref)
    out.mkdir(parents=True, exist_ok=True)
    png = plot_learning_curves(records, out / PLOT_FILE, metric, title, baseline)
    report = out / REPORT_FILE
    write_text_atomic(report, text)
    return text, report, png
