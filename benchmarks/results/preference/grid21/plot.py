"""eps_star.png: each algorithm's eps* against the number of objectives, one panel a problem.

Run from anywhere: python benchmarks/results/preference/grid21/plot.py [OUT.png]
Median over the 21 seeds with the 25-75% band, log scale (the baselines end 1e-8 to 1e3 away).
Only complete instances are drawn, as in table.py."""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from table import ALGORITHMS, HERE, PROBLEMS, column, complete, instance_rows  # noqa: E402

M_VALUES = (3, 5, 8, 10)
FLOOR = 1e-6  # R-NSGA-II, handed the golden point, may end at it; keep it on the log axis


def main(path: Path) -> None:
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8), sharey=True)
    for ax, problem in zip(axes, PROBLEMS, strict=True):
        ms = []
        quartiles: dict[str, list[np.ndarray]] = {algorithm: [] for algorithm in ALGORITHMS}
        for m in M_VALUES:
            rows = instance_rows(problem, m)  # each folder read once for all algorithms
            if not complete(rows):
                continue
            ms.append(m)
            for algorithm, values in quartiles.items():
                eps = np.maximum(column(rows, algorithm, "eps_star"), FLOOR)
                values.append(np.percentile(eps, [25, 50, 75]))
        if ms:
            for algorithm, values in quartiles.items():
                low, mid, high = np.array(values).T
                (line,) = ax.plot(ms, mid, marker="o", label=algorithm)
                ax.fill_between(ms, low, high, color=line.get_color(), alpha=0.2)
        ax.set_yscale("log")
        ax.set_xticks(M_VALUES)
        ax.set_xlabel("objectives m")
        ax.set_title(problem.upper())
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("eps* to the golden point")
    axes[0].legend(fontsize=8)
    fig.suptitle("I-NSGA-II/LTR and baselines, 21 seeds: median and 25-75% band")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "eps_star.png")
