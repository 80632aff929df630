import json

import numpy as np
import pytest

from ll4al.report import format_table, load_results, plot_learning_curves, summarize

RECORDS = [
    {"strategy": "random", "seed": 0, "cycle": 1, "labeled": 10, "accuracy": 0.50},
    {"strategy": "random", "seed": 1, "cycle": 1, "labeled": 10, "accuracy": 0.60},
    {"strategy": "random", "seed": 0, "cycle": 2, "labeled": 20, "accuracy": 0.70},
    {"strategy": "random", "seed": 1, "cycle": 2, "labeled": 20, "accuracy": 0.90},
    {"strategy": "learning-loss", "seed": 0, "cycle": 1, "labeled": 10, "accuracy": 0.55},
    {"strategy": "learning-loss", "seed": 1, "cycle": 1, "labeled": 10, "accuracy": 0.65},
]


def test_summary_is_mean_and_std_by_hand():
    summary = summarize(RECORDS)
    mean, std, n = summary["random"][20]
    assert (mean, n) == (pytest.approx(0.8), 2)
    assert std == pytest.approx(np.std([0.7, 0.9]))
    assert summary["learning-loss"][10][0] == pytest.approx(0.6)


def test_table_and_plot(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    table = format_table(load_results(path))
    assert "80.00 ± 10.00" in table and "60.00 ± 5.00" in table
    assert table.splitlines()[2].split()[1] == "-"  # learning-loss has no 20-label cycle
    assert "2 seed(s)" in table
    png = plot_learning_curves(RECORDS, tmp_path / "curves.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_corrupt_results_line_is_named(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"strategy": "random"}\n{oops\n')
    with pytest.raises(ValueError, match="results.jsonl:2"):
        load_results(path)
