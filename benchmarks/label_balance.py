"""How evenly each strategy's queried labels cover the classes, from a run's saved states.

Why: a strategy that piles its batch into a few confusable classes shows it here before it
shows in accuracy. Reads ``RUN_DIR/runs/*/state.json`` (the oracle's labels of every labeled
sample), removes the shared random initial set, and prints per strategy the smallest and
largest per-class count of the queried samples and the normalised entropy of their class
distribution (1 = perfectly even), mean over seeds.

RUN_DIR is an output directory of ``ll4al run`` (or ``ll4al demo``): the results committed
under ``benchmarks/results`` keep only ``results.jsonl``, not the per-run states, so rerun the
experiment (it resumes from its saved states where they exist) to analyse it.

    python benchmarks/label_balance.py runs/cifar10-cpu
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

from ll4al.al.seeds import initial_indices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    states = sorted(args.run_dir.glob("runs/*/state.json"))
    if not states:
        sys.exit(f"no {args.run_dir / 'runs/*/state.json'}: RUN_DIR must be an `ll4al run` output")
    config = yaml.safe_load((args.run_dir / "config.yaml").read_text())
    rows: dict[str, list[tuple[int, int, int, float]]] = defaultdict(list)
    for path in states:
        state = json.loads(path.read_text())
        pool = state["pool"]
        initial = set(initial_indices(pool["size"], config["active"]["initial"], state["seed"]))
        classes = 1 + max(label for _, label in pool["labeled"])
        queried = [label for index, label in pool["labeled"] if index not in initial]
        if not queried:
            continue
        counts = np.bincount(queried, minlength=classes)
        share = counts[counts > 0] / counts.sum()
        entropy = float(-(share * np.log(share)).sum() / np.log(classes))
        rows[state["strategy"]].append((len(queried), counts.min(), counts.max(), entropy))
    header = ["seeds", "queried", "min/class", "max/class", "entropy"]
    print(f"{'strategy':<24}" + "".join(f"{h:>11}" for h in header))
    for strategy, values in sorted(rows.items()):
        total, low, high, entropy = (np.mean([v[i] for v in values]) for i in range(4))
        print(
            f"{strategy:<24}{len(values):>11}{total:>11.0f}{low:>11.0f}{high:>11.0f}"
            f"{entropy:>11.3f}"
        )


if __name__ == "__main__":
    main()
