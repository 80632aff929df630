"""The README's tables: one row per complete instance folder of grid21, for the m given.

Run from anywhere: python benchmarks/results/preference/grid21/table.py 8 10
An instance is listed only when all four algorithms have all 21 seeds, so a partial folder
never shows as a result."""

import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import ranksums

from ll4al.preference.experiment import read_result_lines

HERE = Path(__file__).resolve().parent
ALGORITHMS = ("ltr-nsga2", "nsga2", "pinsga2", "r-nsga2")
PROBLEMS = ("dtlz1", "dtlz2", "dtlz3", "dtlz4")
SEEDS = range(21)
FAR = 0.05  # a seed ending further than this from the golden point is counted as off


def instance_rows(problem: str, m: int) -> list[dict]:
    """The records of one instance folder; none when it has not been started."""
    path = HERE / f"{problem}-m{m}" / "results.jsonl"
    return [json.loads(line) for line in read_result_lines(path)] if path.exists() else []


def column(rows: list[dict], algorithm: str, key: str) -> np.ndarray:
    by_seed = {r["seed"]: r[key] for r in rows if r["algorithm"] == algorithm}
    return np.array([by_seed[s] for s in SEEDS])


def complete(rows: list[dict]) -> bool:
    done = {(r["algorithm"], r["seed"]) for r in rows}
    return all((a, s) in done for a in ALGORITHMS for s in SEEDS)


def mean_std(values: np.ndarray) -> str:
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"


def row(problem: str, m: int) -> str:
    rows = instance_rows(problem, m)
    name = f"DTLZ{problem[-1]}, m = {m}"
    if not complete(rows):
        return f"| {name} | (not complete) | | | | | | |"
    ltr = column(rows, "ltr-nsga2", "eps_star")
    cells = [f"**{mean_std(ltr)}**"]
    for baseline in ALGORITHMS[1:]:
        other = column(rows, baseline, "eps_star")
        cells.append(f"{mean_std(other)} ({ranksums(ltr, other).pvalue:.1e})")
    cells.append(mean_std(column(rows, "ltr-nsga2", "mean_distance")))
    cells.append(f"max {ltr.max():.4f}, > {FAR}: {int((ltr > FAR).sum())}")
    seconds = sum(r["seconds"] for r in rows if r["seed"] in SEEDS)
    cells.append(f"{seconds:,.0f} s")
    return f"| {name} | " + " | ".join(cells) + " |"


def main(ms: list[int]) -> None:
    print(
        "| instance | ltr-nsga2 eps* | nsga2 (p) | pinsga2 (p) | r-nsga2, oracle (p) "
        "| ltr-nsga2 mean distance | ltr-nsga2 seeds | time |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for m in ms:
        for problem in PROBLEMS:
            print(row(problem, m))


if __name__ == "__main__":
    main([int(m) for m in sys.argv[1:]] or [3, 5, 8, 10])
