"""torchrun on CPU with gloo: sharded scoring and DDP training equal one process."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ll4al.cli import main

from .helpers import set_args

WORKER = Path(__file__).parent / "distributed" / "worker.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args: str, cwd: Path, nproc: int = 2, timeout: int = 300):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={nproc}",
        "--master-addr=127.0.0.1",
        f"--master-port={free_port()}",
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def scoring(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("scoring")
    result = torchrun(str(WORKER), "scoring", str(out), cwd=out)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "scoring.json").read_text())


def test_sharded_scoring_equals_one_process_for_every_output(scoring):
    assert scoring["rows"] == 1001  # every candidate scored exactly once
    assert scoring["equal"] == {
        "probs": True,
        "predicted_loss": True,
        "embedding": True,
        "uncertainty": True,
    }


def test_sharded_scoring_picks_what_one_process_picks(scoring):
    assert scoring["picks_equal"] == {
        "learning-loss": True,
        "core-set": True,
        "learning-loss-diverse": True,
        "badge": True,
    }


def test_one_ddp_step_on_two_ranks_equals_one_process_on_the_whole_batch(tmp_path):
    result = torchrun(str(WORKER), "training", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads((tmp_path / "training.json").read_text())
    assert found["moved"] > 1e-3  # the step changed the weights
    assert max(found["max_diff"].values()) < 1e-6, found["max_diff"]
    assert {"heads.0.0.weight", "out.weight", "model.7.weight"} <= set(found["max_diff"])


# The demo on an MLP (no batch norm) in fp32, every training batch a multiple of 2 ranks x 2:
# training under torchrun is then the single process's, up to float rounding.
EQUIVALENT = [
    "model.name=mlp",
    "model.width=0.25",
    "model.lpm_hidden=16",
    "active.initial=48",
    "active.query_size=24",
    "active.subset=300",
    "active.cycles=3",
    "train.batch_size=16",
    "train.epochs=3",
    "train.milestones=[]",
    "seeds=[0]",
    "precision=fp32",
]


def states(out: Path) -> dict:
    return {
        run.name: json.loads((run / "state.json").read_text())["pool"]
        for run in sorted((out / "runs").iterdir())
    }


def test_ll4al_run_under_torchrun_writes_complete_results_and_picks_what_one_process_picks(
    tmp_path,
):
    args = ["run", "demo", "--quiet", *set_args(EQUIVALENT)]
    result = torchrun("-m", "ll4al.cli", *args, "--out", "dist", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert main([*args, "--out", str(tmp_path / "single")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "dist" / "results.jsonl").open()]
    keys = [(r["strategy"], r["seed"], r["cycle"]) for r in rows]
    assert sorted(keys) == [
        (s, 0, c) for s in ("learning-loss-balanced", "random") for c in (1, 2, 3)
    ]
    assert states(tmp_path / "dist") == states(tmp_path / "single")
    assert result.stdout.count("results: dist/results.jsonl") == 1  # rank 0 alone reports
    assert result.stdout.count(": strategies ['random'") == 1  # and alone says what runs


def test_a_rank_killed_mid_run_fails_the_job_and_a_rerun_resumes(tmp_path):
    args = ["run", "demo", "--quiet", "--out", "dist", *set_args(EQUIVALENT)]
    killed = torchrun(
        str(Path(__file__).parent / "distributed" / "kill_rank.py"), *args, cwd=tmp_path
    )
    assert killed.returncode != 0
    assert "Signal 9 (SIGKILL) received by PID" in killed.stderr or "SIGKILL" in killed.stderr
    # rank 1 died entering round 2, after both ranks had trained round 1 (a collective), so
    # rank 0 had written cycle 1's record; cycle 2's may or may not have been written
    saved = [json.loads(line) for line in (tmp_path / "dist" / "results.jsonl").open()]
    assert {1} <= {r["cycle"] for r in saved} <= {1, 2}

    again = torchrun("-m", "ll4al.cli", *args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from" in again.stdout
    assert (
        main(["run", "demo", "--quiet", "--out", str(tmp_path / "single"), *set_args(EQUIVALENT)])
        == 0
    )
    assert states(tmp_path / "dist") == states(tmp_path / "single")


def test_a_project_query_under_torchrun_proposes_the_single_process_batch(tmp_path):
    from .project_helpers import answer_batch, export_digits, init_digits_project

    digits = export_digits(tmp_path / "digits")
    folder = tmp_path / "project"
    settings = [s for s in EQUIVALENT if not s.startswith(("active", "seeds"))]
    args = init_digits_project(folder, digits, 48, [*settings, "active.subset=300"])
    assert main(args) == 0
    assert main(["query", str(folder), "--k", "48", "--quiet"]) == 0
    answers = answer_batch(folder / "batches" / "batch-001.csv", tmp_path / "a.csv")
    assert main(["import", str(folder), str(answers)]) == 0
    alone = tmp_path / "alone"
    shutil.copytree(folder, alone)

    result = torchrun("-m", "ll4al.cli", "query", str(folder), "--k", "24", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("batch to label") == 1
    assert main(["query", str(alone), "--k", "24", "--quiet"]) == 0
    rows = [line.split(",") for line in (folder / "batches" / "batch-002.csv").open()]
    single = [line.split(",") for line in (alone / "batches" / "batch-002.csv").open()]
    assert len(rows) == 25
    # the same images in the same order with the same guesses; the predicted losses agree to
    # float rounding (DDP averages two half-batch gradients where one process sums them once)
    assert [r[:3] + r[4:] for r in rows] == [r[:3] + r[4:] for r in single]
    assert all(
        abs(float(a[3]) - float(b[3])) < 1e-5 for a, b in zip(rows[1:], single[1:], strict=True)
    )


def test_pretraining_under_torchrun_equals_one_process_on_the_whole_batch(tmp_path):
    """Two ranks, each on half of every batch, with the NT-Xent loss over the whole batch's
    embeddings: the MLP (no batch norm) ends where one process ends, up to float rounding."""
    import torch

    args = ["pretrain", "demo", "--quiet", "--batch-size", "16", "--limit", "72", "--lr", "2"]
    args += set_args(["model.name=mlp", "model.width=0.25", "precision=fp32"])
    result = torchrun("-m", "ll4al.cli", *args, "--epochs", "2", "--out", "dist.pt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("pretrained in") == 1  # rank 0 alone speaks
    assert not (tmp_path / "dist.pt.resume").exists()
    for epochs in ("1", "2"):
        assert main([*args, "--epochs", epochs, "--out", str(tmp_path / f"{epochs}.pt")]) == 0
    dist, single, earlier = (
        torch.load(tmp_path / name, weights_only=True) for name in ("dist.pt", "2.pt", "1.pt")
    )
    assert dist.keys() == single.keys() and "hidden2.0.weight" in dist
    assert max((dist[k] - single[k]).abs().max().item() for k in dist) < 1e-5
    assert max((single[k] - earlier[k]).abs().max().item() for k in dist) > 1e-2  # it trained


def test_a_project_pretrains_under_torchrun_and_says_so(tmp_path, capsys):
    from .project_helpers import export_digits, init_digits_project

    digits = export_digits(tmp_path / "digits")
    folder = tmp_path / "project"
    settings = [s for s in EQUIVALENT if not s.startswith(("active", "seeds"))]
    assert main(init_digits_project(folder, digits, 48, [*settings, "active.subset=300"])) == 0
    args = ["pretrain", str(folder), "--epochs", "2", "--limit", "96", "--quiet"]
    result = torchrun("-m", "ll4al.cli", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("pretrained in") == 1
    info = json.loads((folder / "encoder" / "encoder.json").read_text())
    assert info["processes"] == 2 and info["settings"]["epochs"] == 2
    assert (folder / "encoder" / "encoder.pt").is_file()
    assert not (folder / "encoder" / "encoder.pt.resume").exists()
    assert main(["status", str(folder)]) == 0
    assert "on 2 processes, cpu" in capsys.readouterr().out
