"""When to stop labeling, replayed on the committed learning curves: the forecast's calibration
and where each stop rule stops.

Why: a stop rule that stops too early costs points, one that never stops saves nothing; both
can be measured on curves that ran to the end of their budget without training anything. For
every ``results.jsonl`` given (default: the committed benchmarks), per strategy and seed, the
run's rounds are replayed one at a time, as ``ll4al status`` and ``ll4al query`` see them:

1. Calibration: after each round t >= 2, ``ll4al.al.forecast.forecast`` predicts the next
   round's gain from rounds 1..t, and the real gain (round t + 1 - round t) is checked against
   the nominal-80% interval. Target: inside in >= 80% of rounds over all benchmarks and seeds.
   The interval's prior scale is also shown at 0.5 and 2 (the shipped value is 1).
2. Stop rules: each rule is asked after every round (``stop_check``, the next batch being the
   run's own batch size); where it first says stop, the labels that round used are where the
   run stops. Saved: the budget's labels past that point. The curve is "within 1 point of its
   end" from the first round whose metric is >= the last round's - 0.01; a run meets the target
   where it gives up <= 1 point (last round - round stopped at) and saves >= 30% of the labels
   past that point (0 past it: nothing to save, only the points count). Target: >= 90% of runs
   with the default rule (``min_gain_per_100: 0.5, patience: 2``).

    python benchmarks/stop_rule.py
    python benchmarks/stop_rule.py --results benchmarks/results/bccd-cpu/results.jsonl
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ll4al.al.forecast import POINTS, RULE_MIN_ROUNDS, agreement_check, forecast, stop_check
from ll4al.config import StopSettings
from ll4al.experiments.results import read_report_records

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = [
    "cifar10-cpu",
    "cifar10-cpu-5seeds",
    "cifar10-cpu-budget",
    "cifar10-cpu-pretrained",
    "face-keypoints-cpu",
    "face-keypoints-cpu-balanced",
    "face-keypoints-cpu-budget",
    "bccd-cpu",
    "bccd-cpu-balanced",
    "stop-rule/digits",
]
DEFAULT_RULE = StopSettings(min_gain_per_100=0.5, patience=2)
RULES = {
    "gain/100 < 0.5, 2 rounds (default)": DEFAULT_RULE,
    "gain/100 < 0.5, 1 round": StopSettings(min_gain_per_100=0.5, patience=1),
    "gain/100 < 0.25, 2 rounds": StopSettings(min_gain_per_100=0.25, patience=2),
    "gain/100 < 1, 2 rounds": StopSettings(min_gain_per_100=1.0, patience=2),
}
WITHIN = 0.01  # "within 1 point of the end"
SAVE_SHARE = 0.30


AGREEMENT_RULES = {
    f"kappa >= {kappa:g}, {patience} rounds": StopSettings(
        stop_set=1, min_agreement=kappa, patience=patience
    )
    for kappa in (0.9, 0.95, 0.99)
    for patience in (2, 3)
}


@dataclass
class Run:
    benchmark: str
    strategy: str
    seed: int
    labels: list[int]
    values: list[float]
    #: Per round, where the run recorded the label-free signals (``stop.stop_set``).
    records: list[dict]


@dataclass
class Stop:
    """Where a rule stopped one run and what that cost."""

    at: int  # labels of the round stopped at
    fired: bool
    saved: int  # labels of the budget not spent
    past: int  # labels past the first round within 1 point of the end
    given_up: float  # points

    @property
    def ok(self) -> bool:
        return self.given_up <= WITHIN * POINTS + 1e-9 and self.saved >= SAVE_SHARE * self.past


def read_runs(path: Path, name: str) -> list[Run]:
    records = read_report_records(path)
    metric = next((r["primary_metric"] for r in records if "primary_metric" in r), "accuracy")
    by_run: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for r in records:
        if metric in r:
            by_run[(r["strategy"], r["seed"])].append(r)
    runs = []
    for (strategy, seed), rows in sorted(by_run.items()):
        rows.sort(key=lambda r: r["labeled"])
        if len(rows) >= 3:
            labels = [r["labeled"] for r in rows]
            runs.append(Run(name, strategy, seed, labels, [r[metric] for r in rows], rows))
    return runs


def replay_stop(run: Run, rule: StopSettings) -> Stop:
    """Where ``rule`` (on the forecast gain, or on the recorded agreement) first says stop."""
    x, y = run.labels, run.values
    kappas = [r.get("stop_agreement") for r in run.records]
    stop_index = len(x) - 1
    for t in range(1, len(x)):  # after round t (1-based) the next batch is x[t] - x[t-1]
        checks = (
            stop_check(x[:t], y[:t], x[t] - x[t - 1], rule),
            agreement_check(kappas[:t], rule),
        )
        if any(check is not None and check.met for check in checks):
            stop_index = t - 1
            break
    end = y[-1]
    first_within = next(n for n, v in zip(x, y, strict=True) if v >= end - WITHIN)
    return Stop(
        at=x[stop_index],
        fired=stop_index < len(x) - 1,
        saved=x[-1] - x[stop_index],
        past=x[-1] - first_within,
        given_up=(end - y[stop_index]) * POINTS,
    )


def calibration(runs: list[Run], prior_scale: float) -> dict[str, list[tuple[float, float, bool]]]:
    """Per benchmark: (forecast gain, real gain, inside the interval) for every round t >= 2."""
    out: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
    for run in runs:
        x, y = run.labels, run.values
        for t in range(2, len(x)):
            f = forecast(x[:t], y[:t], x[t] - x[t - 1], prior_scale)
            assert f is not None
            real = y[t] - y[t - 1]
            out[run.benchmark].append((f.gain, real, f.low <= real <= f.high))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--results",
        nargs="+",
        type=Path,
        default=[ROOT / "benchmarks" / "results" / b / "results.jsonl" for b in BENCHMARKS],
    )
    parser.add_argument("--runs", action="store_true", help="print every run's stop (default rule)")
    args = parser.parse_args()
    runs = [r for path in args.results for r in read_runs(path, path.parent.name)]
    names = list(dict.fromkeys(r.benchmark for r in runs))
    print(f"{len(runs)} runs (strategy x seed) from {len(names)} benchmarks")

    print("\n1. forecast calibration: the next round's real gain inside the 80% interval")
    print(
        "{:30s} {:>6s} {:>7s} {:>9s} {:>7s} {:>7s}".format(
            "benchmark", "rounds", "inside", "forecast", "real", "|err|"
        )
    )
    scales = {scale: calibration(runs, scale) for scale in (1.0, 0.5, 2.0)}
    shipped = scales[1.0]
    for name in names:
        rows = shipped[name]
        inside = sum(hit for *_, hit in rows) / len(rows)
        mean_f = sum(f for f, *_ in rows) / len(rows) * POINTS
        mean_r = sum(r for _, r, _ in rows) / len(rows) * POINTS
        err = sum(abs(r - f) for f, r, _ in rows) / len(rows) * POINTS
        print(f"{name:30s} {len(rows):6d} {inside:7.1%} {mean_f:+9.2f} {mean_r:+7.2f} {err:7.2f}")
    for scale, table in scales.items():
        rows = [row for name in names for row in table[name]]
        inside = sum(hit for *_, hit in rows) / len(rows)
        verdict = f" >= 80% {'ok' if inside >= 0.8 else 'MISSED'}" if scale == 1.0 else ""
        label = "shipped" if scale == 1.0 else "for comparison"
        print(f"all, prior scale {scale:g} ({label}): {inside:.1%} of {len(rows)} rounds{verdict}")
    distinct = list(
        {(r.strategy, r.seed, tuple(r.labels), tuple(r.values)): r for r in runs}.values()
    )
    once = [row for rows in calibration(distinct, 1.0).values() for row in rows]
    inside = sum(hit for *_, hit in once) / len(once)
    print(
        f"distinct curves (a run in several folders once), prior scale 1: {inside:.1%} of "
        f"{len(once)} rounds"
    )

    rules_table(runs, names, RULES, "2. stop rules on the forecast gain")
    signalled = [r for r in runs if "stop_agreement" in r.records[0]]
    if signalled:
        signals_section(signalled)
    else:
        print("\n3. label-free signals: no run given recorded them (stop.stop_set)")

    if args.runs:
        print("\n4. every run, default rule")
        print(
            f"{'benchmark':30s} {'strategy':26s} {'seed':>4s} {'budget':>6s} {'stop at':>7s} "
            f"{'saved':>6s} {'past':>5s} {'given up':>8s} ok"
        )
        for r in runs:
            s = replay_stop(r, DEFAULT_RULE)
            print(
                f"{r.benchmark:30s} {r.strategy:26s} {r.seed:4d} {r.labels[-1]:6d} {s.at:7d} "
                f"{s.saved:6d} {s.past:5d} {s.given_up:8.2f} {'yes' if s.ok else 'no'}"
            )


def rules_table(
    runs: list[Run], names: list[str], rules: dict[str, StopSettings], title: str
) -> None:
    print(f"\n{title}: runs meeting the target (<= 1 point given up, >= 30% of the labels")
    print("   past 'within 1 point of the end' saved), runs stopped early, labels saved, points")
    print(
        "{:36s} {:30s} {:>7s} {:>7s} {:>6s} {:>12s}".format(
            "rule", "benchmark", "ok", "stopped", "saved", "max given up"
        )
    )
    for label, rule in rules.items():
        stops = {
            name: [replay_stop(r, rule) for r in runs if r.benchmark == name] for name in names
        }
        for name in names:
            rows = stops[name]
            ok = sum(s.ok for s in rows)
            fired = sum(s.fired for s in rows)
            saved = sum(s.saved for s in rows) / sum(
                r.labels[-1] for r in runs if r.benchmark == name
            )
            worst = max(s.given_up for s in rows)
            print(
                f"{label:36s} {name:30s} {ok:3d}/{len(rows):<3d} {fired:7d} {saved:6.1%} "
                f"{worst:12.2f}"
            )
        every = [s for rows in stops.values() for s in rows]
        share = sum(s.ok for s in every) / len(every)
        verdict = f" >= 90% {'ok' if share >= 0.9 else 'MISSED'}" if rule is DEFAULT_RULE else ""
        print(
            f"{label:36s} {'all':30s} {sum(s.ok for s in every):3d}/{len(every):<3d} "
            f"{sum(s.fired for s in every):7d}: {share:.1%} of runs{verdict}"
        )
        if rule is DEFAULT_RULE:  # a run in several folders (shared by their reports) once
            distinct = {(r.strategy, r.seed, tuple(r.labels), tuple(r.values)): r for r in runs}
            once = [replay_stop(r, rule) for r in distinct.values()]
            print(
                f"{label:36s} {'distinct curves':30s} {sum(s.ok for s in once):3d}/{len(once):<3d} "
                f"{sum(s.fired for s in once):7d}: {sum(s.ok for s in once) / len(once):.1%} of "
                "runs, each curve counted once"
            )
        if rule is DEFAULT_RULE:  # a run of N rounds can stop before its last from round M
            first = RULE_MIN_ROUNDS + rule.patience - 1
            long = [replay_stop(r, rule) for r in runs if len(r.labels) > first]
            print(
                f"{label:36s} {'runs of > ' + str(first) + ' rounds':30s} "
                f"{sum(s.ok for s in long):3d}/{len(long):<3d} {sum(s.fired for s in long):7d}: "
                f"{sum(s.ok for s in long) / max(len(long), 1):.1%} of the runs it could stop "
                "before their last round"
            )


def signals_section(runs: list[Run]) -> None:
    """The agreement rule where runs recorded the signals, the signals' means by round, and
    what scoring the stop set cost against the rounds' training and query."""
    names = list(dict.fromkeys(r.benchmark for r in runs))
    rules_table(runs, names, AGREEMENT_RULES, "3. label-free: stabilizing predictions")
    print("\n   signals by round, mean over seeds (metric in points)")
    print(
        "{:26s} {:>6s} {:>7s} {:>7s} {:>11s} {:>14s}".format(
            "strategy", "labels", "metric", "kappa", "uncertainty", "predicted loss"
        )
    )
    by: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for run in runs:
        for labeled, value, record in zip(run.labels, run.values, run.records, strict=True):
            by[(run.strategy, labeled)].append({"metric": value, **record})

    def mean(rows: list[dict], key: str, scale: float = 1.0) -> str:
        known = [r[key] for r in rows if r.get(key) is not None]
        return f"{scale * sum(known) / len(known):.3f}" if known else "-"

    for (strategy, labeled), rows in sorted(by.items()):
        print(
            f"{strategy:26s} {labeled:6d} {mean(rows, 'metric', POINTS):>7s} "
            f"{mean(rows, 'stop_agreement'):>7s} {mean(rows, 'stop_uncertainty'):>11s} "
            f"{mean(rows, 'stop_predicted_loss'):>14s}"
        )
    records = [r for run in runs for r in run.records]
    scoring = sum(r["stop_seconds"] for r in records)
    rounds = sum(r["train_seconds"] + r.get("query_seconds", 0.0) for r in records)
    print(
        f"stop set scored in {scoring:.1f} s against {rounds:.1f} s of training and querying "
        f"({scoring / rounds:.1%}); training passes added: 0"
    )


if __name__ == "__main__":
    main()
