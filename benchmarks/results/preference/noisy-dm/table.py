"""The README's table: ltr-nsga2 with the noisy DM against the noiseless grid21 runs, seeds 0-10.

Run from anywhere: python benchmarks/results/preference/noisy-dm/table.py"""

import json
from pathlib import Path

import numpy as np
from scipy.stats import ranksums, wilcoxon

from ll4al.preference.experiment import read_result_lines

HERE = Path(__file__).resolve().parent
GRID = HERE.parent / "grid21"


def eps_by_seed(path: Path, algorithm: str) -> dict[int, float]:
    records = [json.loads(line) for line in read_result_lines(path)] if path.exists() else []
    return {r["seed"]: r["eps_star"] for r in records if r["algorithm"] == algorithm}


def mean_std(values: np.ndarray) -> str:
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"


print(
    "| instance | ltr-nsga2, 10% of answers flipped | ltr-nsga2, noiseless | nsga2 "
    "| p: noisy vs nsga2 | p: noisy vs noiseless (paired) |"
)
print("|---|---|---|---|---|---|")
for m in (3, 5):
    for problem in ("dtlz1", "dtlz2", "dtlz3", "dtlz4"):
        name = f"{problem}-m{m}"
        noisy = eps_by_seed(HERE / name / "results.jsonl", "ltr-nsga2")
        clean = eps_by_seed(GRID / name / "results.jsonl", "ltr-nsga2")
        nsga = eps_by_seed(GRID / name / "results.jsonl", "nsga2")
        seeds = [s for s in range(11) if s in noisy and s in clean and s in nsga]
        if len(seeds) < 2:
            print(f"| DTLZ{problem[-1]}, m = {m} | (not run) | | | | |")
            continue
        n, c, g = (np.array([d[s] for s in seeds]) for d in (noisy, clean, nsga))
        print(
            f"| DTLZ{problem[-1]}, m = {m} | {mean_std(n)} | {mean_std(c)} | {mean_std(g)} "
            f"| {ranksums(n, g).pvalue:.1e} | {wilcoxon(n, c).pvalue:.1e} |"
        )
