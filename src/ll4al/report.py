"""Turning ``results.jsonl`` into a per-cycle table and learning curves."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """Read a ``results.jsonl`` file (one JSON object per strategy, seed and cycle)."""
    records = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number} is not valid JSON: {err}") from err
    return records


def summarize(
    records: list[dict[str, Any]], metric: str = "accuracy"
) -> dict[str, dict[int, tuple[float, float, int]]]:
    """``{strategy: {labeled: (mean, std, n_seeds)}}`` of ``metric`` (std with ddof=0)."""
    values: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if metric in r:
            values[r["strategy"]][int(r["labeled"])].append(float(r[metric]))
    return {
        strategy: {
            n: (float(np.mean(v)), float(np.std(v)), len(v)) for n, v in sorted(by_n.items())
        }
        for strategy, by_n in values.items()
    }


def format_table(records: list[dict[str, Any]], metric: str = "accuracy") -> str:
    """A plain-text table: one row per labeled count, one column per strategy (mean ± std)."""
    summary = summarize(records, metric)
    strategies = sorted(summary)
    counts = sorted({n for by_n in summary.values() for n in by_n})
    seeds = {len({r["seed"] for r in records if r["strategy"] == s}) for s in strategies}
    header = ["labeled", *strategies]
    rows = []
    for n in counts:
        row = [str(n)]
        for s in strategies:
            cell = summary[s].get(n)
            row.append("-" if cell is None else f"{100 * cell[0]:.2f} ± {100 * cell[1]:.2f}")
        rows.append(row)
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    seed_note = "/".join(str(s) for s in sorted(seeds))
    lines.append(f"{metric} in % (mean ± std over {seed_note} seed(s))")
    return "\n".join(lines)


def plot_learning_curves(
    records: list[dict[str, Any]], path: str | Path, metric: str = "accuracy", title: str = ""
) -> Path:
    """One PNG: mean learning curve per strategy with a shaded ± std band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarize(records, metric)
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for strategy in sorted(summary):
        counts = np.array(list(summary[strategy]))
        mean = np.array([summary[strategy][n][0] for n in counts]) * 100
        std = np.array([summary[strategy][n][1] for n in counts]) * 100
        seeds = max(summary[strategy][n][2] for n in counts)
        (line,) = ax.plot(counts, mean, marker="o", label=f"{strategy} ({seeds} seeds)")
        ax.fill_between(counts, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("labeled samples")
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title(title or f"Learning curves: {metric}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
