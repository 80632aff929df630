"""The report's numbers against values computed by hand, and ``ll4al report`` end to end."""

import json
import math
from statistics import mean, stdev

import matplotlib.image
import pytest

from ll4al.cli import main
from ll4al.experiments.report import (
    aulc,
    aulc_by_seed,
    build_report,
    format_table,
    labels_to_reach,
    labels_to_reach_baseline,
    paired_differences,
    plot_learning_curves,
    seed_curves,
    shared_counts,
    summarize,
    write_report,
)
from ll4al.experiments.results import read_report_records

# accuracy per seed at labeled 10, 20, 30; entropy has a single seed on purpose
ACCURACY = {
    "random": {0: [0.50, 0.60, 0.70], 1: [0.40, 0.60, 0.80], 2: [0.60, 0.70, 0.75]},
    "learning-loss": {0: [0.50, 0.65, 0.80], 1: [0.45, 0.55, 0.80], 2: [0.60, 0.75, 0.70]},
    "entropy": {0: [0.55, 0.60, 0.72]},
}
RANKING = {0: [0.60, 0.70, 0.75], 1: [0.62, 0.66, 0.80], 2: [0.58, 0.70, 0.77]}


def make_records() -> list[dict]:
    records = []
    for strategy, by_seed in ACCURACY.items():
        for seed, values in by_seed.items():
            for cycle, value in enumerate(values, 1):
                record = {
                    "strategy": strategy,
                    "seed": seed,
                    "cycle": cycle,
                    "labeled": 10 * cycle,
                    "accuracy": value,
                    "test_loss": 1 - value,
                    "train_seconds": 1.5,
                }
                if strategy == "learning-loss":
                    record["ranking_accuracy"] = RANKING[seed][cycle - 1]
                records.append(record)
    return records


def write_results(directory, records) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def pct(values: list[float]) -> str:
    """A table cell by hand: mean ± sample std in %."""
    return f"{100 * mean(values):.2f} ± {100 * stdev(values):.2f}"


def row(text: str, first: str) -> list[str]:
    """The cells of the Markdown table row whose first cell is ``first``."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("|") and cells[0] == first:
            return cells[1:]
    raise AssertionError(f"no row {first!r} in\n{text}")


def section(report: str, heading: str) -> str:
    """The text under one ``## heading``, up to the next one."""
    return report.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_summary_is_mean_and_sample_std_by_hand():
    summary = summarize(make_records())
    m, s, n = summary["random"][20]
    assert (m, s, n) == (
        pytest.approx(mean([0.6, 0.6, 0.7])),
        pytest.approx(stdev([0.6, 0.6, 0.7])),
        3,
    )
    assert summary["learning-loss"][10][0] == pytest.approx(mean([0.50, 0.45, 0.60]))
    assert math.isnan(summary["entropy"][10][1])  # one seed has no spread


def test_table_cells_are_hand_means_and_stds():
    table = format_table(make_records())
    assert row(table, "labeled") == ["entropy", "learning-loss", "random"]
    for i, labeled in enumerate((10, 20, 30)):
        cells = row(table, str(labeled))
        assert cells[0] == f"{100 * ACCURACY['entropy'][0][i]:.2f}"  # one seed: no ± at all
        assert cells[1] == pct([v[i] for v in ACCURACY["learning-loss"].values()])
        assert cells[2] == pct([v[i] for v in ACCURACY["random"].values()])
    assert "1/3 seed(s)" in table and "ddof=1" in table

    no_third = [r for r in make_records() if (r["strategy"], r["cycle"]) != ("entropy", 3)]
    assert row(format_table(no_third), "30")[0] == "-"


def test_aulc_is_the_trapezoid_by_hand():
    assert aulc({10: 0.5, 20: 0.6, 30: 0.7}, [10, 20, 30]) == pytest.approx(0.6)
    uneven = ((0.5 + 0.6) / 2 * 10 + (0.6 + 0.9) / 2 * 20) / 30
    assert aulc({10: 0.5, 20: 0.6, 40: 0.9}, [10, 20, 40]) == pytest.approx(uneven)

    by_hand = {
        "random": {0: 0.6, 1: 0.6, 2: ((0.6 + 0.7) / 2 + (0.7 + 0.75) / 2) / 2},
        "learning-loss": {0: 0.65, 1: ((0.45 + 0.55) / 2 + (0.55 + 0.8) / 2) / 2, 2: 0.7},
        "entropy": {0: ((0.55 + 0.6) / 2 + (0.6 + 0.72) / 2) / 2},
    }
    curves = seed_curves(make_records())
    assert shared_counts(curves) == [10, 20, 30]
    per_seed = aulc_by_seed(curves, [10, 20, 30])
    for strategy, values in by_hand.items():
        assert per_seed[strategy] == pytest.approx(values)

    text = section(build_report(make_records()), "Area under the learning curve")
    ll, rnd = by_hand["learning-loss"], by_hand["random"]
    assert row(text, "random") == ["3", pct(list(rnd.values())), "-"]
    paired = [ll[seed] - rnd[seed] for seed in ll]
    diff = f"+{100 * mean(paired):.2f} ± {100 * stdev(paired):.2f}"
    assert row(text, "learning-loss") == ["3", pct(list(ll.values())), diff]
    assert row(text, "entropy")[1:] == ["61.75", "+1.75"]  # 0.6175 - 0.6 for seed 0


def test_aulc_compares_only_the_counts_and_seeds_with_full_curves():
    dropped = {("entropy", 0, 3), ("learning-loss", 2, 3)}
    records = [r for r in make_records() if (r["strategy"], r["seed"], r["cycle"]) not in dropped]
    curves = seed_curves(records)
    assert shared_counts(curves) == [10, 20]  # entropy never reached 30
    per_seed = aulc_by_seed(curves, [10, 20])
    assert per_seed["random"] == pytest.approx({0: 0.55, 1: 0.5, 2: 0.65})

    report = build_report(records)
    text = section(report, "Area under the learning curve")
    assert "labeled 10-20 (2 counts)" in text
    assert "Labeled 30 left out (not reached by entropy)" in text
    assert row(text, "random")[:2] == ["3", pct([0.55, 0.5, 0.65])]
    assert "- learning-loss seed 2: no result at labeled 30" in report
    assert "- entropy seed 0: no result at labeled 30" in report

    random_short = [
        r for r in make_records() if (r["strategy"], r["seed"], r["cycle"]) != ("random", 2, 3)
    ]
    text = section(build_report(random_short), "Area under the learning curve")
    assert "Left out for an incomplete curve: random seed 2." in text
    assert row(text, "random")[:2] == ["2", pct([0.6, 0.6])]
    paired = [0.65 - 0.6, (0.5 + 0.675) / 2 - 0.6]  # learning-loss seeds 0 and 1 only
    diff = f"+{100 * mean(paired):.2f} ± {100 * stdev(paired):.2f} (n=2)"
    assert row(text, "learning-loss")[0::2] == ["3", diff]


def test_ranking_accuracy_table_is_hand_means():
    text = section(build_report(make_records()), "LPM ranking accuracy (%)")
    assert row(text, "labeled") == ["learning-loss"]  # only strategies with an LPM
    for i, labeled in enumerate((10, 20, 30)):
        assert row(text, str(labeled)) == [pct([v[i] for v in RANKING.values()])]


def test_paired_differences_by_hand():
    diffs = paired_differences(seed_curves(make_records()), "random")
    assert set(diffs) == {"entropy", "learning-loss"}
    assert diffs["learning-loss"][0] == pytest.approx({10: 0.0, 20: 0.05, 30: 0.10})
    assert diffs["learning-loss"][2] == pytest.approx({10: 0.0, 20: 0.05, 30: -0.05})
    assert list(diffs["entropy"]) == [0]
    assert diffs["entropy"][0] == pytest.approx({10: 0.05, 20: 0.0, 30: 0.02})

    text = section(build_report(make_records()), "Paired difference to random")
    at_20 = [0.65 - 0.60, 0.55 - 0.60, 0.75 - 0.70]
    assert row(text, "20") == ["+0.00", f"+{100 * mean(at_20):.2f} ± {100 * stdev(at_20):.2f}"]
    assert row(text, "30")[1] == "+1.67 ± 7.64"  # mean(+10, 0, -5), stdev 7.64
    # at 30: +10 (won), 0 (tie), -5 (lost); entropy +2 on its only seed
    assert row(text, "learning-loss") == ["1/3 at labeled 30, 1 tied"]
    assert row(text, "entropy") == ["1/1 at labeled 30"]
    assert "Higher is better" in text


def test_a_loss_metric_is_better_when_lower():
    report = build_report(make_records(), metric="test_loss")
    text = section(report, "Paired difference to random")
    assert "Lower is better" in text
    assert row(text, "30")[1] == "-0.0167 ± 0.0764"  # raw units, not %
    assert row(text, "learning-loss") == ["1/3 at labeled 30, 1 tied"]  # seed 2 only
    assert "## test_loss\n" in report


def test_an_error_metric_is_better_when_lower():
    records = [{**r, "mean_pixel_error": 10 * (1 - r["accuracy"])} for r in make_records()]
    text = section(build_report(records, metric="mean_pixel_error"), "Paired difference to random")
    assert "Lower is better" in text
    assert row(text, "learning-loss") == ["1/3 at labeled 30, 1 tied"]


def test_report_states_seeds_and_warns_below_two():
    report = build_report(make_records())
    seeds = section(report, "Seeds")
    assert row(seeds, "random") == ["3 (0, 1, 2)", "10-30 (3)"]
    assert row(seeds, "entropy") == ["1 (0)", "10-30 (3)"]
    assert "**Warning:** entropy has a single seed" in seeds
    assert "only over several seeds" in seeds
    assert "Warning" not in build_report([r for r in make_records() if r["strategy"] != "entropy"])


def test_baseline_is_random_if_present_or_named():
    no_random = [r for r in make_records() if r["strategy"] != "random"]
    report = build_report(no_random)
    assert "## Paired difference" not in report and "No paired comparison" in report
    report = build_report(no_random, baseline="learning-loss")
    assert row(section(report, "Paired difference to learning-loss"), "10") == ["+5.00"]


# Labels to reach random's final accuracy, by hand. The target is random's mean at labeled 30:
# mean(0.70, 0.80, 0.75) = 0.75. learning-loss seed 0 (0.65 at 20, 0.80 at 30) crosses it at
# 20 + (0.75 - 0.65) / (0.80 - 0.65) * 10 = 26.67, seed 1 (0.55, 0.80) at 20 + 0.2 / 0.25 * 10
# = 28, seed 2 has 0.75 at 20 already; entropy tops out at 0.72, so it never gets there.
LL_LABELS = {0: 20 + 0.10 / 0.15 * 10, 1: 28.0, 2: 20.0}
LL_SAVED = 30 - mean(LL_LABELS.values())  # 5.11 labels
LABELS = "Labels to reach random's final accuracy"


def test_labels_to_reach_interpolates_the_first_crossing_by_hand():
    curve = {10: 0.5, 20: 0.6, 40: 0.9}
    assert labels_to_reach(curve, 0.75) == pytest.approx(20 + 0.15 / 0.3 * 20)  # 30
    assert labels_to_reach(curve, 0.6) == 20  # reached exactly at a cycle
    assert labels_to_reach(curve, 0.4) == 10  # reached at the first count: that count
    assert labels_to_reach(curve, 0.95) is None
    # not monotone: the first crossing counts, not the last
    assert labels_to_reach({10: 0.5, 20: 0.8, 30: 0.6, 40: 0.9}, 0.7) == pytest.approx(
        10 + 0.2 / 0.3 * 10
    )
    # lower is better: reaching means getting down to the target
    error = {10: 5.0, 20: 3.0, 30: 2.0}
    assert labels_to_reach(error, 2.5, higher_is_better=False) == pytest.approx(25.0)
    assert labels_to_reach(error, 1.0, higher_is_better=False) is None
    assert labels_to_reach(error, 2.5) == 10  # read as higher-is-better, 5.0 already beats it


def test_labels_to_reach_the_baselines_final_metric_by_hand():
    found = labels_to_reach_baseline(seed_curves(make_records()), "random")
    assert (found.final, found.target, found.target_seeds) == (30, pytest.approx(0.75), 3)
    assert found.labels["learning-loss"] == pytest.approx(LL_LABELS)
    assert found.labels["entropy"] == {0: None}
    # random's own seeds against its own mean: 0.70 never, 0.60 -> 0.80 at 20 + 0.15 / 0.2 * 10
    assert found.labels["random"] == pytest.approx({0: None, 1: 27.5, 2: 30.0})


def test_labels_table_is_the_hand_mean_and_saving():
    report = build_report(make_records())
    text = section(report, LABELS)
    header = row(text, "strategy")
    assert header == [
        "labels to reach random's final accuracy",
        "seeds reaching it",
        "labels saved",
    ]  # no annotation rate given: label counts only
    ll = f"{mean(LL_LABELS.values()):.1f} ± {stdev(LL_LABELS.values()):.1f}"
    assert ll == "24.9 ± 4.3"
    assert row(text, "learning-loss") == [ll, "3/3", f"{LL_SAVED:.1f} ({100 * LL_SAVED / 30:.1f}%)"]
    assert row(text, "learning-loss")[2] == "5.1 (17.0%)"
    assert row(text, "entropy") == ["not reached in 1 of 1 seeds", "0/1", "-"]
    assert row(text, "random") == ["30", "-", "-"]  # the baseline: its final labeled count
    assert "last labeled count, 30: 75.00%, the mean over its 3 seeds" in text
    assert "only if every seed reached it" in text
    # the rest of the report is what it was, with this section after the paired difference
    assert report.index("## Paired difference") < report.index(f"## {LABELS}")
    assert report.index(f"## {LABELS}") < report.index("## LPM ranking accuracy")


def test_a_seed_that_never_reaches_the_target_leaves_no_mean():
    # learning-loss seed 1 stays at 0.55: 2 of its 3 seeds reach 0.75, so no mean of those two
    records = [
        {**r, "accuracy": 0.55}
        if (r["strategy"], r["seed"], r["cycle"]) == ("learning-loss", 1, 3)
        else r
        for r in make_records()
    ]
    text = section(build_report(records, cost_minutes=1, cost_money=2), LABELS)
    assert row(text, "learning-loss") == ["not reached in 1 of 3 seeds", "2/3", "-", "-", "-"]


def test_a_seed_reaching_the_target_at_the_first_count_marks_an_upper_bound():
    records = [
        {**r, "accuracy": 0.9}
        if (r["strategy"], r["seed"], r["cycle"]) == ("learning-loss", 0, 1)
        else r
        for r in make_records()
    ]
    text = section(build_report(records), LABELS)
    labels = [10.0, 28.0, 20.0]
    assert row(text, "learning-loss")[0] == f"≤ {mean(labels):.1f} ± {stdev(labels):.1f}"
    assert "reached at the first labeled count (learning-loss seed 0)" in text


def test_labels_to_reach_a_lower_is_better_metric():
    # mean_pixel_error = 10 * (1 - accuracy): the same crossings, read downwards (target 2.5)
    records = [{**r, "mean_pixel_error": 10 * (1 - r["accuracy"])} for r in make_records()]
    report = build_report(records, metric="mean_pixel_error")
    text = section(report, "Labels to reach random's final mean_pixel_error")
    assert "2.5000, the mean over its 3 seeds" in text and "(at most the target)" in text
    ll = f"{mean(LL_LABELS.values()):.1f} ± {stdev(LL_LABELS.values()):.1f}"
    assert row(text, "learning-loss") == [ll, "3/3", "5.1 (17.0%)"]
    assert row(text, "entropy")[0] == "not reached in 1 of 1 seeds"  # 2.8 never gets to 2.5
    # test_loss = 1 - accuracy, named like a loss: lower is better as well
    text = section(
        build_report(make_records(), metric="test_loss"), "Labels to reach random's final test_loss"
    )
    assert row(text, "learning-loss")[0] == ll


def test_labels_to_reach_another_baseline_and_an_unfinished_one():
    # against learning-loss: target mean(0.80, 0.80, 0.70) = 0.767, which only random seed 1
    # (0.80 at 30) reaches; seeds 0 and 2 end at 0.70 and 0.75
    text = section(
        build_report(make_records(), baseline="learning-loss"),
        "Labels to reach learning-loss's final accuracy",
    )
    assert row(text, "learning-loss") == ["30", "-", "-"]
    assert row(text, "random")[:2] == ["not reached in 2 of 3 seeds", "1/3"]

    # random seed 2 lacks labeled 30: the target is the mean of the two seeds that have it
    records = [
        r for r in make_records() if (r["strategy"], r["seed"], r["cycle"]) != ("random", 2, 3)
    ]
    text = section(build_report(records), LABELS)
    assert "75.00%, the mean over the 2 of its 3 seeds with a result there" in text

    no_random = [r for r in make_records() if r["strategy"] != "random"]
    assert "## Labels to reach" not in build_report(no_random)


def test_annotation_cost_of_the_labels_saved_by_hand():
    text = section(
        build_report(make_records(), cost_minutes=4.5, cost_money=25, currency="RMB"), LABELS
    )
    assert row(text, "strategy")[3:] == ["annotation time saved (hours)", "money saved (RMB)"]
    hours, money = LL_SAVED * 4.5 / 60, LL_SAVED * 25
    assert row(text, "learning-loss")[3:] == [f"{hours:.2f}", f"{money:,.2f}"]
    assert row(text, "learning-loss")[3:] == ["0.38", "127.78"]  # 5.11 labels x 4.5 min, x 25
    assert row(text, "entropy")[3:] == ["-", "-"]
    assert row(text, "random")[3:] == ["-", "-"]
    assert "Annotation cost per label: 4.5 minutes and 25 RMB." in text

    only_money = section(build_report(make_records(), cost_money=1000), LABELS)
    assert row(only_money, "strategy")[3:] == ["money saved"]  # no currency named
    assert row(only_money, "learning-loss")[3] == f"{LL_SAVED * 1000:,.2f}"  # 5,111.11


def test_plot_has_the_difference_panel_only_with_a_baseline(tmp_path):
    both = plot_learning_curves(make_records(), tmp_path / "both.png")
    alone = [r for r in make_records() if r["strategy"] != "random"]
    one = plot_learning_curves(alone, tmp_path / "one.png")
    height, width, _ = matplotlib.image.imread(both).shape
    assert width > 2 * height
    height, width, _ = matplotlib.image.imread(one).shape
    assert width < 2 * height


def test_cli_report_end_to_end(tmp_path, capsys):
    run = tmp_path / "run"
    write_results(run, make_records())
    assert main(["report", str(run)]) == 0
    out, err = capsys.readouterr()
    report = (run / "report.md").read_text()
    assert out == report  # stdout holds the Markdown only; where it went is on stderr
    assert report.startswith("# Active-learning report: run\n")
    assert "![learning curves](learning_curves.png)" in report
    assert str(run / "report.md") in err
    assert (run / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(run / "learning_curves.png").ndim == 3

    other = tmp_path / "elsewhere"
    args = ["report", str(run), "--out", str(other), "--metric", "test_loss"]
    assert main([*args, "--baseline", "entropy"]) == 0
    assert "## Paired difference to entropy" in (other / "report.md").read_text()
    assert (other / "learning_curves.png").is_file()


def test_cli_report_prices_the_labels_saved(tmp_path, capsys):
    run = tmp_path / "run"
    write_results(run, make_records())
    args = ["report", str(run), "--cost-minutes", "4.5", "--cost-money", "25", "--currency", "RMB"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out == (run / "report.md").read_text()
    text = section(out, LABELS)
    assert row(text, "learning-loss") == ["24.9 ± 4.3", "3/3", "5.1 (17.0%)", "0.38", "127.78"]
    assert "4.5 minutes and 25 RMB" in text

    assert main(["report", str(run), "--metric", "test_loss", "--cost-minutes", "60"]) == 0
    text = section(capsys.readouterr().out, "Labels to reach random's final test_loss")
    assert row(text, "strategy")[-1] == "annotation time saved (hours)"
    assert row(text, "learning-loss")[-1] == f"{LL_SAVED:.2f}"  # an hour a label


@pytest.mark.parametrize(
    "content,args,message",
    [
        (None, [], "results.jsonl not found"),
        ("", [], "holds no results yet"),
        ("LINE\n{oops\n", [], "results.jsonl:2 is not valid JSON"),
        ('{"strategy": "random", "seed": 0}\n', [], "results.jsonl:1 is not a result record"),
        ("[1, 2]\n", [], "results.jsonl:1 is not a result record"),
        ("LINE\nLINE\n", [], "results.jsonl:2 repeats the record of line 1"),
        ("LINE\n", ["--metric", "acc"], "unknown metric 'acc'; choose one of: accuracy"),
        ("LINE\n", ["--baseline", "coreset"], "baseline 'coreset' has no 'accuracy' results"),
        ("LINE\n", ["--cost-minutes", "-1"], "--cost-minutes is a cost per label"),
        ("LINE\n", ["--cost-money", "nan"], "--cost-money is a cost per label"),
        ("LINE\n", ["--currency", "RMB"], "pass --cost-money too"),
    ],
)
def test_cli_report_errors_are_one_line(tmp_path, capsys, content, args, message):
    line = '{"strategy": "random", "seed": 0, "labeled": 10, "accuracy": 0.5}'
    if content is not None:
        (tmp_path / "results.jsonl").write_text(content.replace("LINE", line))
    assert main(["report", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ll4al: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "report.md").exists()


def test_corrupt_results_line_is_named(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(make_records()[0]) + "\n{oops\n")
    with pytest.raises(ValueError, match="results.jsonl:2"):
        read_report_records(path)


def test_report_defaults_to_the_primary_metric_the_records_name(tmp_path):
    records = [
        {
            "strategy": s,
            "seed": seed,
            "cycle": 1,
            "labeled": 10,
            "primary_metric": "pck",
            "pck": 0.5 + 0.1 * seed,
            "mean_pixel_error": 3.0,
        }
        for s in ("random", "learning-loss")
        for seed in (0, 1)
    ]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in records))
    text, _, _ = write_report(results)
    assert "`pck` of 2 strategies" in text and "55.00 ± 7.07" in text


def test_labels_saved_against_another_runs_baseline(tmp_path, capsys):
    # the reference: random of another protocol, ending at 300 labels with 0.65 and 0.75
    reference = [
        {"strategy": "random", "seed": seed, "cycle": c, "labeled": 100 * c, "accuracy": acc}
        for seed, final in ((0, 0.65), (1, 0.75))
        for c, acc in ((1, 0.3), (2, 0.5), (3, final))
    ]
    write_results(tmp_path / "scratch", reference)
    write_results(tmp_path / "frozen", make_records())
    assert main(["report", str(tmp_path / "frozen"), "--reference", str(tmp_path / "scratch")]) == 0
    text = section(capsys.readouterr().out, "Labels to reach random's final accuracy in scratch")
    assert row(text, "random (scratch)") == ["300", "-", "-"]
    # target 0.70: this run's random seeds reach it at 30 (0.70), 20 + 0.1 / 0.2 * 10, 20 (0.70)
    labels = [30, 25, 20]
    cells = row(text, "random")
    assert cells[0] == f"{mean(labels):.1f} ± {stdev(labels):.1f}"
    assert cells[2] == f"{300 - mean(labels):.1f} ({100 * (300 - mean(labels)) / 300:.1f}%)"
    assert row(text, "entropy")[1] == "1/1"  # 0.72 at 30 labels reaches 0.70
    assert "last labeled count, 300: 70.00%, the mean over its 2 seeds" in text
    missing = tmp_path / "missing"
    assert main(["report", str(tmp_path / "frozen"), "--reference", str(missing)]) == 2
    assert "missing" in capsys.readouterr().err


def test_a_seed_still_running_is_left_out_of_the_labels_table_not_counted_as_a_miss():
    # learning-loss seed 1 has only its first two cycles (0.60 at 20, below the 0.75 target):
    # an unfinished run, not a miss; its other two seeds give the mean
    records = [
        r
        for r in make_records()
        if (r["strategy"], r["seed"], r["cycle"]) != ("learning-loss", 1, 3)
    ]
    text = section(build_report(records), LABELS)
    kept = [n for seed, n in LL_LABELS.items() if seed != 1]
    assert row(text, "learning-loss")[:2] == [f"{mean(kept):.1f} ± {stdev(kept):.1f}", "2/2"]
    assert "Left out as unfinished (short of labeled 30, the target not reached yet): " in text
    assert "learning-loss seed 1." in text
    # every seed unfinished: no mean at all
    records = [r for r in make_records() if (r["strategy"], r["cycle"]) != ("entropy", 3)]
    assert row(section(build_report(records), LABELS), "entropy")[0] == "unfinished"
