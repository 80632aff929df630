"""Several processes running one experiment share its (strategy, seed) runs."""

import threading
import time

from ll4al.config import load_config
from ll4al.experiments.claims import claim
from ll4al.experiments.experiment import run_dir_for, run_experiment

TINY = ["active.cycles=2", "seeds=[0]", "train.epochs=2"]


def test_a_run_is_claimed_by_one_worker_at_a_time(tmp_path):
    with (
        claim(tmp_path / "run", wait=False) as first,
        claim(tmp_path / "run", wait=False) as second,
    ):
        assert first and not second
    with claim(tmp_path / "run", wait=False) as again:
        assert again


def test_runs_held_by_another_worker_are_done_last_once_it_lets_go(tmp_path):
    config = load_config("demo", TINY)  # runs: random-seed0, then learning-loss-balanced-seed0
    seen, results = [], {}
    held = run_dir_for(tmp_path, "random", 0)
    with claim(held, wait=False) as mine:  # another worker is busy with random-seed0
        assert mine
        worker = threading.Thread(
            target=lambda: results.update(
                records=run_experiment(config, tmp_path, progress=False, on_cycle=seen.append)
            )
        )
        worker.start()
        deadline = time.monotonic() + 120
        while len(seen) < 2 and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        worker.join(timeout=1)
        assert worker.is_alive()  # done with its own runs, it waits for the held one
        assert [r["strategy"] for r in seen] == ["learning-loss-balanced", "learning-loss-balanced"]
        assert not (held / "state.json").exists()
    worker.join(timeout=120)
    assert not worker.is_alive()
    assert [r["strategy"] for r in seen[2:]] == ["random", "random"]
    assert sorted((r["strategy"], r["cycle"]) for r in results["records"]) == [
        ("learning-loss-balanced", 1),
        ("learning-loss-balanced", 2),
        ("random", 1),
        ("random", 2),
    ]
