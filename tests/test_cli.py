"""End to end: the installed ``ll4al`` command, as a user runs it."""

import json
import re
import subprocess
import sys

import pytest

from ll4al.config import load_config
from ll4al.data.registry import DATA_SETS
from ll4al.models.networks import MODELS
from ll4al.strategies import STRATEGIES

from .helpers import ll4al

FAST = ["--set", "active.cycles=2", "--set", "seeds=[0]", "--set", "train.epochs=3", "--quiet"]


def test_demo_runs_writes_results_and_resumes(tmp_path):
    out = tmp_path / "demo"
    result = ll4al("demo", "--out", str(out), *FAST, "--from-scratch-only", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (out / "pool-first").exists()
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted((r["strategy"], r["cycle"]) for r in records) == [
        ("learning-loss-balanced", 1),
        ("learning-loss-balanced", 2),
        ("random", 1),
        ("random", 2),
    ]
    assert {r["labeled"] for r in records} == {50, 100}
    assert all({"strategy", "seed", "cycle", "labeled", "accuracy"} <= set(r) for r in records)
    assert all(
        ("ranking_accuracy" in r) == (r["strategy"] == "learning-loss-balanced") for r in records
    )
    assert (out / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "learning-loss-balanced" in result.stdout and "random" in result.stdout
    report = (out / "report.md").read_text()
    assert report in result.stdout and "## Area under the learning curve" in report
    assert "**Warning:** learning-loss-balanced, random have a single seed" in report

    again = ll4al("report", str(out), cwd=tmp_path)  # the same report from the saved results
    assert again.returncode == 0, again.stderr
    assert again.stdout == report  # the config's name stays the title

    again = ll4al("demo", "--out", str(out), *FAST, "--from-scratch-only", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "resuming from 4 saved cycle(s)" in again.stdout
    assert not re.search(r"cycle +\d+ labeled", again.stdout)  # nothing re-ran
    assert len((out / "results.jsonl").read_text().splitlines()) == 4

    other_seed = [*FAST[:2], "--set", "seeds=[1]", *FAST[4:]]
    again = ll4al("demo", "--out", str(out), *other_seed, "--from-scratch-only", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    seeds = {json.loads(ln)["seed"] for ln in (out / "results.jsonl").read_text().splitlines()}
    assert seeds == {0, 1}  # results.jsonl keeps the rows of earlier runs in the folder

    config_before = (out / "config.yaml").read_text()
    changed = ll4al("demo", "--out", str(out), *FAST, "--set", "train.epochs=4", cwd=tmp_path)
    assert changed.returncode == 2 and "different configuration" in changed.stderr
    assert (out / "config.yaml").read_text() == config_before


def test_the_demo_goes_on_to_the_pool_first_path_against_random_from_scratch(tmp_path):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), *FAST, "--pretrain-epochs", "2"]
    result = ll4al(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pool_first = out / "pool-first"
    assert "pretrained in" in result.stdout and (pool_first / "encoder.pt").is_file()
    config = load_config(str(pool_first / "config.yaml"))
    assert config.model.mode == "frozen" and config.active.first == "typical"
    assert config.model.weights == str(pool_first / "encoder.pt")
    records = [json.loads(line) for line in (pool_first / "results.jsonl").open()]
    assert sorted({r["strategy"] for r in records}) == [
        "core-set",
        "learning-loss-balanced",
        "random",
    ]
    assert (
        len(
            {
                r["accuracy"]
                for r in records
                if r["strategy"] != "learning-loss-balanced" and r["cycle"] == 1
            }
        )
        == 1
    )  # one typical first batch, one head, for both
    report = (pool_first / "report.md").read_text()
    assert "labels to reach random's final accuracy in demo" in report  # from scratch
    assert "| random (demo) " in report and report in result.stdout

    again = ll4al(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("resuming from") == 2 and "pretrained in" not in again.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["run", "{cfg}"], "unknown key 'trian'"),
        (["run", "cifar10-cpu", "--set", "data.root={tmp}/missing"], "does not exist"),
        (["run", "no-such-config"], "shipped: bccd-cpu, cifar10-cpu"),
        (["demo", "--set", "active.query_size=700"], "larger than active.subset"),
        (["demo", "--set", "active.cycles=40"], "only 1257 samples"),
        (["demo", "--set", "model.lpm_layers=[block9]"], "Unknown layer 'block9'"),
        (["demo", "--set", "model.embedding_layer=fc2"], "Unknown layer 'fc2'"),
        (["prefer", "--problem", "dtlz9"], "unknown problem 'dtlz9'"),
    ],
)
def test_bad_input_gets_a_clear_error(tmp_path, args, message):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("trian: {epochs: 1}\n")
    args = [a.format(cfg=cfg, tmp=tmp_path) for a in args]
    result = ll4al(*args, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_configs_lists_the_shipped_configs(tmp_path):
    result = ll4al("configs", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.split() == [
        "bccd-cpu",
        "cifar10-cpu",
        "cifar10-cpu-pretrained",
        "cifar10-frozen",
        "cifar10-paper",
        "demo",
        "face-keypoints-cpu",
    ]


def test_the_demo_logs_a_line_per_cycle_when_stderr_is_a_file(tmp_path):
    """``nohup ll4al demo 2> log``: no progress bars' carriage returns in the log."""
    out = tmp_path / "demo"
    with open(tmp_path / "log", "w") as log:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "ll4al.cli",
                "demo",
                "--out",
                str(out),
                *FAST[:-1],
                "--from-scratch-only",
            ],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    assert result.returncode == 0
    text = (tmp_path / "log").read_text()
    assert "\r" not in text and len(text.splitlines()) < 200
    assert len(re.findall(r"cycle +\d+ labeled", text)) == 4  # one line per cycle


def test_configs_show_prints_a_config_run_accepts_and_names_lists_the_registry(tmp_path):
    shown = ll4al("configs", "show", "demo", cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout.startswith("# The embedded demo")
    (tmp_path / "mine.yaml").write_text(shown.stdout)
    assert load_config(str(tmp_path / "mine.yaml")) == load_config("demo")
    run = ll4al(
        "run",
        "mine.yaml",
        "--out",
        "r",
        *FAST,
        "--set",
        "strategies=[random]",
        "--set",
        "train.epochs=1",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "# Active-learning report: demo" in (tmp_path / "r" / "report.md").read_text()

    names = ll4al("configs", "names", cwd=tmp_path).stdout
    for name in [*STRATEGIES, *MODELS, *DATA_SETS]:
        assert re.search(rf"^  {re.escape(name)} ", names, flags=re.M), name
    assert "configs names" in ll4al("run", "--help", cwd=tmp_path).stdout
    assert "default: ll4al-demo" in ll4al("demo", "--help", cwd=tmp_path).stdout
