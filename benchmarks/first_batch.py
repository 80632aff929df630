"""A first batch chosen on the encoder's embeddings against a random one, at a few budgets.

Why: with no labels yet, the first batch decides what the first model can learn; TypiClust
(the pool's most typical images, one per cluster) is meant to beat a random draw by many
points at one or two labels per class. For each budget B and each rule (random, typical), a
frozen head is trained on B labels drawn by that rule, for every seed, and evaluated (the
test set, or the validation split with ``--set data.validation=5000``); the table gives
mean and std over seeds and the paired difference typical - random. Runs resume (one
``ll4al run`` folder per rule and budget under ``--out``).

    OMP_NUM_THREADS=1 python benchmarks/first_batch.py --config cifar10-frozen \\
        --budgets 10 20 50 100 --seeds 10 --out runs/first-batch
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from ll4al.config import load_config
from ll4al.experiments.experiment import run_experiment
from ll4al.experiments.results import read_results

RULES = ("random", "typical")


def mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):6.2f} ± {100 * spread:5.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="cifar10-frozen", help="a frozen-mode config")
    parser.add_argument("--budgets", type=int, nargs="+", default=[10, 20, 50, 100])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    table = {}
    for budget in args.budgets:
        for rule in RULES:
            config = load_config(
                args.config,
                [
                    *args.overrides,
                    f"active.initial={budget}",
                    "active.cycles=1",
                    f"active.first={rule}",
                    "strategies=[random]",
                    f"seeds={list(range(args.seeds))}",
                ],
            )
            out = args.out / f"{rule}-{budget}"
            run_experiment(config, out, progress=False, log=lambda _: None)
            records = read_results(out / "results.jsonl")
            metric = records[0]["primary_metric"]
            table[budget, rule] = {r["seed"]: r[metric] for r in records}
    print("| labels | random | typical | typical - random (paired) | typical ahead |")
    print("|---:|---:|---:|---:|---:|")
    for budget in args.budgets:
        random, typical = table[budget, "random"], table[budget, "typical"]
        seeds = sorted(random.keys() & typical.keys())
        gains = [typical[s] - random[s] for s in seeds]
        ahead = sum(g > 0 for g in gains)
        print(
            f"| {budget} | {mean_std([random[s] for s in seeds])} | "
            f"{mean_std([typical[s] for s in seeds])} | {mean_std(gains)} | {ahead}/{len(seeds)} |"
        )


if __name__ == "__main__":
    main()
