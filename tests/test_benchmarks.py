"""Smoke test of every script under ``benchmarks/``: it runs at tiny sizes and prints its figures.

Why: the scripts are not imported by the package, so a refactoring that breaks them goes
unnoticed until someone wants the numbers. Each script found by the glob runs in a fresh
process, as the docstrings tell a user to run it (from the repository root), and must exit 0
and print the lines with the ratios and figures it promises. A new script needs an entry in
``SMOKE``; without one its test fails rather than being skipped.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ll4al.strategies import STRATEGIES

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))
TIMEOUT_S = 300  # each script; all of them take ~30 s on 2 CPU cores
NUMBER = r"-?\d+(?:\.\d+)?"


@dataclass(frozen=True)
class Smoke:
    """Tiny-size arguments of a script and regexes (multiline) its stdout must match.

    ``{demo_run}`` in an argument is replaced by an ``ll4al demo`` output directory,
    ``{encoder}`` by a one-epoch SimCLR checkpoint of the demo's network, ``{tmp}`` by an
    empty folder.
    """

    args: list[str]
    expect: list[str]


SMOKE: dict[str, Smoke] = {
    "costs.py": Smoke(
        args=["--reps", "1", "--samples", "256", "--subset", "64", "--labeled", "32"]
        + ["--k", "8", "--pool", "1000", "--width", "0.0625"],
        expect=[
            # 1. LPM training overhead: the ratio with its target
            rf"^ll4al \w+, no LPM +{NUMBER} +\d+ +1\.000 *$",
            rf"^ll4al \w+ \+ LPM +{NUMBER} +\d+ +\d+\.\d{{3}} +<= 1\.05 (?:ok|MISSED)$",
            # 3. throughput against the plain loop, ours with its target
            rf"^plain PyTorch fp32 +{NUMBER} +\d+ +1\.00 *$",
            rf"^ll4al \w+, no LPM +{NUMBER} +\d+ +\d+\.\d\d +>= 1\.8 (?:ok|MISSED)$",
            # 2. query cost of every registered strategy / the plain inference pass
            rf"^inference pass \(the unit\) +{NUMBER} +1\.00 *$",
            rf"^inference pass, LPM attached +{NUMBER} +\d+\.\d\d *$",
            *(rf"^{re.escape(name)}(?: \(.*\))? +{NUMBER} +\d+\.\d\d\b" for name in STRATEGIES),
            rf"^learning-loss +{NUMBER} +\d+\.\d\d +<= 1\.1 (?:ok|MISSED)$",
            rf"^bald \(.*\) +{NUMBER} +\d+\.\d\d +<= 2 (?:ok|MISSED)$",
            rf"^learning-loss / inference pass with the LPM attached .*: {NUMBER}$",
            # 4. memory of streamed scoring at two pool sizes
            r"^100 +8 +\d+ +\d+ +",
            r"^1,000 +8 +\d+ +\d+ +",
            rf"^peak RSS ratio \(pool 1,000 / 100\): {NUMBER}; {NUMBER} bytes per extra pool",
            r"^total wall time \d+ s$",
        ],
    ),
    "sharded_scoring.py": Smoke(
        args=["--pool", "600", "--width", "0.0625", "--device", "cpu"],
        expect=[
            r"^ +1 +\d+\.\d\d +\d+$",
            r"^ +2 +\d+\.\d\d +\d+$",
            rf"^throughput ratio \(2 processes / 1\): {NUMBER}$",
        ],
    ),
    "startup.py": Smoke(
        args=["--images", "40", "--reps", "1"],
        expect=[
            r"^images: 40$",
            rf"^ll4al status: {NUMBER} s \(median of 1\) <= 1 s (?:ok|MISSED)$",
            r"^heavy modules imported: \[\]$",
        ],
    ),
    "added_images.py": Smoke(
        args=["--images", "30", "--side", "16", "--image-size", "8"],
        expect=[
            r"^images: 30 \+ 1 added \(16x16, 16-bit\)$",
            rf"^after adding 1, incremental: {NUMBER} s$",
            rf"^after adding 1, all decoded again \(before\): {NUMBER} s$",
            rf"^incremental / all again: {NUMBER} <= 0\.1 (?:ok|MISSED)$",
            r"^identical pixels: yes$",
        ],
    ),
    "frozen_round.py": Smoke(
        args=["--synthetic", "120", "--labels", "10", "--k", "10", "--image-size", "8"],
        expect=[
            r"^images: 120$",
            rf"^first round \(decodes and embeds the pool once, then a round\): {NUMBER} s$",
            rf"^frozen round \(20 labels; fit, score 100 images, write 10\): {NUMBER} s "
            r"<= 15 s (?:ok|MISSED)$",
        ],
    ),
    "first_batch.py": Smoke(
        args=["--config", "demo", "--set", "model.weights={encoder}", "--set", "model.mode=frozen"]
        + ["--set", "train.epochs=5", "--budgets", "10", "--seeds", "2", "--out", "{tmp}"],
        expect=[
            rf"^\| 10 \| +{NUMBER} ± +{NUMBER} \| +{NUMBER} ± +{NUMBER} \| +{NUMBER} ± +{NUMBER} "
            r"\| [0-2]/2 \|$",
        ],
    ),
    "spread.py": Smoke(
        args=["--patients", "12", "--slices", "3", "--k", "6", "--rounds", "2", "--seeds", "1"]
        + ["--epochs", "1", "--width", "0.25"],
        expect=[
            rf"^none +1 +12 +\d+\.\d +{NUMBER} ± {NUMBER}$",
            rf"^patient +1 +12 +6\.0 +{NUMBER} ± {NUMBER}$",  # six patients in a batch of six
            r"^final accuracy, patient - none: [+-]\d\.\d{4} \(per seed: .*\)$",
        ],
    ),
    "stop_rule.py": Smoke(
        # the committed curves only, no training: BCCD (3 rounds) and the digits run that
        # recorded the label-free signals
        args=["--results", "benchmarks/results/bccd-cpu/results.jsonl"]
        + ["benchmarks/results/stop-rule/digits/results.jsonl", "--runs"],
        expect=[
            r"^\d+ runs \(strategy x seed\) from 2 benchmarks$",
            rf"^bccd-cpu +9 +{NUMBER}% +[+-]{NUMBER} +[+-]{NUMBER} +{NUMBER}$",
            rf"^all, prior scale 1 \(shipped\): {NUMBER}% of \d+ rounds >= 80% (?:ok|MISSED)$",
            rf"^gain/100 < 0\.5, 2 rounds \(default\) +all +\d+/\d+ +\d+: {NUMBER}% of runs "
            r">= 90% (?:ok|MISSED)$",
            rf"^kappa >= 0\.95, 3 rounds +digits +\d+/6 +\d+ +{NUMBER}% +{NUMBER}$",
            # the signals at the digits run's last round (random: no LPM, no predicted loss)
            rf"^random +800 +{NUMBER} +{NUMBER} +{NUMBER} +-$",
            rf"^stop set scored in {NUMBER} s against {NUMBER} s .*; training passes added: 0$",
            r"^bccd-cpu +\S+ +\d+ +200 +\d+ +\d+ +\d+ +-?\d+\.\d\d (?:yes|no)$",
        ],
    ),
    "label_balance.py": Smoke(
        args=["{demo_run}"],
        # one seed, one query of 50 (demo's query_size) per strategy of the demo
        expect=[
            rf"^{name} +1 +50 +\d+ +\d+ +[01]\.\d{{3}}$"
            for name in ("learning-loss-balanced", "random")
        ],
    ),
    "first_rounds.py": Smoke(
        # digits only: 8 labels, the defaults against the rule (batch 4, 1,000 steps)
        args=["--data", "digits", "--budgets", "8", "--seeds", "0", "--width", "0.0625"]
        + ["--only", "defaults", "q4-s1000", "--out", "{tmp}/first-rounds"],
        expect=[
            r"^digits n=8 seed=0 defaults: val [01]\.\d{4} test [01]\.\d{4} \(",
            r"^\| data \| labels \| seeds \| defaults \| .*\| q4-s1000 \(rule\) \|",
            # the row: defaults' mean ± std, ..., rule - defaults, rule - best
            rf"^\| digits \| 8 \| 1 \| {NUMBER} ± {NUMBER} \| .*\| [+-]{NUMBER} \| "
            rf"[+-]{NUMBER} \|$",
        ],
    ),
}


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    """A real ``ll4al demo`` run directory (one seed, one query, one epoch): saved states."""
    out = tmp_path_factory.mktemp("bench") / "demo"
    fast = ["active.cycles=2", "seeds=[0]", "train.epochs=1"]
    settings = [arg for setting in fast for arg in ("--set", setting)]
    args = ["-m", "ll4al.cli", "demo", "--out", str(out), *settings, "--from-scratch-only"]
    done = run([*args, "--quiet"], out.parent)
    assert done.returncode == 0, done.stderr
    return out


def test_benchmarks_are_found_and_every_smoke_entry_names_one():
    assert SCRIPTS, f"no scripts under {ROOT / 'benchmarks'}"
    stale = set(SMOKE) - {script.name for script in SCRIPTS}
    assert not stale, f"SMOKE names scripts that no longer exist: {sorted(stale)}"


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Path:
    """A one-epoch SimCLR checkpoint of the demo's network on 128 digits."""
    out = tmp_path_factory.mktemp("bench") / "encoder.pt"
    args = ["pretrain", "demo", "--out", str(out), "--epochs", "1", "--limit", "128", "--quiet"]
    done = run(["-m", "ll4al.cli", *args], out.parent)
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_benchmark_runs_at_tiny_size(script: Path, request, tmp_path):
    smoke = SMOKE.get(script.name)
    assert smoke is not None, (
        f"benchmarks/{script.name} has no entry in SMOKE in {Path(__file__).name}: add its "
        "tiny-size arguments and the output lines it promises"
    )
    args = list(smoke.args)
    for name in ("demo_run", "encoder"):
        if any(f"{{{name}}}" in arg for arg in args):
            value = str(request.getfixturevalue(name))
            args = [arg.replace(f"{{{name}}}", value) for arg in args]
    args = [arg.replace("{tmp}", str(tmp_path / "out")) for arg in args]
    done = run([str(script), *args], ROOT)
    assert done.returncode == 0, f"{script.name} exited {done.returncode}:\n{done.stderr[-3000:]}"
    missing = [p for p in smoke.expect if not re.search(p, done.stdout, re.MULTILINE)]
    assert not missing, f"{script.name} did not print {missing}; stdout:\n{done.stdout}"
    assert " error " not in done.stdout, f"a measurement failed:\n{done.stdout}\n{done.stderr}"
