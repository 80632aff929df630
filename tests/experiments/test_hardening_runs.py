"""Hardening of a run's folder: results that never shrink, states and reports that name what is
wrong, crash and resume.

Each bad input gets exit code 2, one line on stderr naming the key or file, and leaves the
``--out`` folder byte-identical. The demo runs in-process (``cli.main``) at a tiny size; only
the crash-resume check needs real processes, to kill them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ll4al import cli
from ll4al import files as files_module
from ll4al.al.pool import Pool, PoolError
from ll4al.config import load_config
from ll4al.experiments import experiment
from ll4al.experiments.claims import claim
from ll4al.experiments.report import plot_learning_curves
from ll4al.experiments.results import append_result, read_report_records, read_results
from ll4al.files import CorruptFileError

from ..hardening import Killed, demo_args, refused, rows, without_timings


def test_run_refuses_a_folder_holding_prefer_results(tmp_path, capsys):
    out = tmp_path / "prefer"
    out.mkdir()
    (out / "results.jsonl").write_text(json.dumps({"algorithm": "nsga2", "seed": 0}) + "\n")
    (out / "config.json").write_text("{}")
    refused(capsys, demo_args(out), out, "results.jsonl:1", "ll4al prefer")


def test_a_rerun_with_fewer_strategies_or_other_seeds_keeps_every_row(demo_copy, capsys):
    results, config = demo_copy / "results.jsonl", demo_copy / "config.yaml"
    before, config_inode = results.read_bytes(), config.stat().st_ino
    assert cli.main(demo_args(demo_copy, "strategies=[random]")) == 0
    assert results.read_bytes() == before  # 4 rows, not the 2 of random
    assert load_config(str(config)).strategies == ["random", "learning-loss-balanced"]
    assert config.stat().st_ino != config_inode  # replaced atomically, not rewritten in place

    assert cli.main(demo_args(demo_copy, "strategies=[random]", "seeds=[1]")) == 0
    got = rows(demo_copy)
    assert sorted((r["strategy"], r["seed"], r["cycle"]) for r in got) == [
        ("learning-loss-balanced", 0, 1),
        ("learning-loss-balanced", 0, 2),
        ("random", 0, 1),
        ("random", 0, 2),
        ("random", 1, 1),
        ("random", 1, 2),
    ]
    assert without_timings(got[:4]) == without_timings(json.loads(x) for x in before.splitlines())
    saved = load_config(str(config))  # the folder's config describes all its rows
    assert (saved.strategies, saved.seeds) == (["random", "learning-loss-balanced"], [0, 1])
    report = (demo_copy / "report.md").read_text()
    assert "learning-loss-balanced" in report and "seed" in report
    capsys.readouterr()


def test_a_rerun_with_other_settings_names_them_and_changes_nothing(demo_copy, capsys):
    line = refused(capsys, demo_args(demo_copy, "train.lr=0.5"), demo_copy, "train.lr")
    assert "different configuration" in line and "0.05 there, 0.5 here" in line


def test_a_state_listing_an_index_twice_is_refused_naming_it(demo_copy, capsys):
    path = demo_copy / "runs" / "random-seed0" / "state.json"
    state = json.loads(path.read_text())
    state["pool"]["labeled"].append(state["pool"]["labeled"][0])  # the same index, again
    path.write_text(json.dumps(state))
    refused(capsys, demo_args(demo_copy), demo_copy, str(path), "twice")
    with pytest.raises(PoolError, match=r"listed twice: \[3\]"):
        Pool.from_dict({"size": 5, "labeled": [[3, "a"], [1, "b"], [3, "a"]]})


@pytest.mark.parametrize("case", ["list", "no-pool", "next-cycle-text", "binary", "records"])
def test_a_corrupt_state_is_named_and_left_alone(demo_copy, capsys, case):
    path = demo_copy / "runs" / "learning-loss-balanced-seed0" / "state.json"
    state = json.loads(path.read_text())
    if case == "list":
        path.write_text("[]")
    elif case == "binary":
        path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    else:
        if case == "no-pool":
            del state["pool"]
        elif case == "next-cycle-text":
            state["next_cycle"] = "three"
        else:  # a state saved before the records went to results.jsonl only
            state["records"] = [{}]
        path.write_text(json.dumps(state))
    refused(capsys, demo_args(demo_copy), demo_copy, str(path), "corrupt")


def test_a_record_only_an_older_state_holds_is_written_on_resume(demo_copy, capsys):
    """States saved before each record went straight to results.jsonl carried the records,
    and a kill could come before the last was merged into the file: resuming writes it."""
    results = demo_copy / "results.jsonl"
    lines = results.read_bytes().splitlines(keepends=True)
    path = demo_copy / "runs" / "random-seed0" / "state.json"
    state = json.loads(path.read_text())
    state["records"] = [r for r in rows(demo_copy) if (r["strategy"], r["seed"]) == ("random", 0)]
    path.write_text(json.dumps(state))
    (lost,) = [line for line in lines if json.loads(line) == state["records"][-1]]
    results.write_bytes(b"".join(line for line in lines if line != lost))
    assert cli.main(demo_args(demo_copy)) == 0
    assert sorted(results.read_bytes().splitlines(keepends=True)) == sorted(lines)
    capsys.readouterr()


def test_a_resumed_demo_checks_its_stop_rule_on_the_records_in_results(tmp_path, monkeypatch):
    """The stop rule needs the run's curve so far, which the state no longer holds: a run
    killed after two cycles reads them back from results.jsonl and marks the rule on all
    three points (met from the third round with patience 1, as without the kill)."""
    from ll4al.al.simulation import ActiveLearningRun

    out = tmp_path / "demo"
    args = demo_args(
        out,
        "strategies=[random]",
        "active.cycles=3",
        "stop.min_gain_per_100=1000000",
        "stop.patience=1",
    )
    run_cycle = ActiveLearningRun.run_cycle

    def killed_at_the_third(self, cycle):
        if cycle == 2:
            raise Killed
        return run_cycle(self, cycle)

    with monkeypatch.context() as patch:
        patch.setattr(ActiveLearningRun, "run_cycle", killed_at_the_third)
        with pytest.raises(Killed):
            cli.main(args)
    assert [r["cycle"] for r in rows(out)] == [1, 2]
    assert cli.main(args) == 0
    assert [r["stop_rule_met"] for r in rows(out)] == [False, False, True]


@pytest.mark.parametrize("content", [b"\x00\xff\xfe binary\n", b"not json\n"])
def test_report_on_a_binary_or_broken_results_file_names_the_line(tmp_path, capsys, content):
    (tmp_path / "results.jsonl").write_bytes(content)
    refused(capsys, ["report", str(tmp_path)], tmp_path, "results.jsonl:1")
    (tmp_path / "results.jsonl").write_bytes(
        b'{"strategy": "random", "seed": 0, "labeled": 5}\n{oops\n'
    )
    refused(capsys, ["report", str(tmp_path)], tmp_path, "results.jsonl:2 is not valid JSON")


def test_an_out_that_is_a_file_or_under_one_is_refused(tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("mine")
    refused(capsys, demo_args(out), out, str(out), "not a folder")
    refused(capsys, demo_args(out / "sub"), out, str(out), "not a folder")


def test_a_read_only_out_is_a_one_line_error(demo_copy, capsys, monkeypatch):
    """A real read-only folder where permissions bind; as root (they do not), the check that
    ran first is skipped and the OS's refusal of the first write is simulated."""
    os.chmod(demo_copy, 0o555)
    try:
        if os.geteuid() == 0:
            monkeypatch.setattr(experiment.os, "access", lambda path, mode: True)
            real_open = os.open

            def read_only_open(path, flags, *args):
                if str(path).startswith(str(demo_copy)) and flags & os.O_CREAT:
                    raise PermissionError(13, "Permission denied", str(path))
                return real_open(path, flags, *args)

            monkeypatch.setattr(os, "open", read_only_open)
            refused(capsys, demo_args(demo_copy), demo_copy, "Permission denied", str(demo_copy))
            monkeypatch.undo()
        else:
            refused(capsys, demo_args(demo_copy), demo_copy, "not writable", str(demo_copy))
    finally:
        os.chmod(demo_copy, 0o755)


def test_lock_files_never_follow_a_planted_symlink(tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "lock").symlink_to(victim)
    with pytest.raises(CorruptFileError, match="symbolic link"), claim(tmp_path / "run", True):
        pass
    (tmp_path / "results.jsonl.lock").symlink_to(victim)
    with pytest.raises(CorruptFileError, match="results.jsonl.lock is a symbolic link"):
        append_result(tmp_path, record("random", 0, 1))
    assert victim.read_text() == "precious"
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "lock").write_text("kept")  # an existing lock file is not truncated
    with claim(tmp_path / "plain", wait=False) as mine:
        assert mine
    assert (tmp_path / "plain" / "lock").read_text() == "kept"


def test_a_plot_killed_mid_save_leaves_the_old_png(tmp_path, monkeypatch):
    import matplotlib.figure

    records = [
        {"strategy": "random", "seed": 0, "labeled": n, "accuracy": n / 100} for n in (10, 20)
    ]
    png = plot_learning_curves(records, tmp_path / "curves.png")
    before = png.read_bytes()
    assert before[:4] == b"\x89PNG"

    def killed(self, path, **kwargs):
        Path(path).write_bytes(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", killed)
    with pytest.raises(KeyboardInterrupt):
        plot_learning_curves(records, png)
    assert png.read_bytes() == before and sorted(tmp_path.iterdir()) == [png]


def record(strategy: str, seed: int, cycle: int) -> dict:
    return {"strategy": strategy, "seed": seed, "cycle": cycle, "labeled": 10 * cycle,
            "accuracy": (hash((strategy, seed, cycle)) % 997) / 997}  # fmt: skip


WRITES = st.lists(
    st.tuples(
        st.lists(  # one writer's runs: (strategy, seed, cycles done)
            st.tuples(
                st.sampled_from(["random", "learning-loss", "core-set"]),
                st.integers(0, 2),
                st.integers(0, 3),
            ),  # fmt: skip
            max_size=4,
        ),
        st.none() | st.integers(0, 120),  # no kill, or one that loses this many bytes of a write
    ),
    min_size=1,
    max_size=12,
)


class KilledWriting:
    """``open(fd, mode)`` in ``ll4al.files``, but its write loses its last ``lost`` bytes
    (all of them, or none) and then dies; a row written whole goes into ``ever``."""

    def __init__(self, fd: int, mode: str, lost: int, ever: dict) -> None:
        self.handle, self.lost, self.ever = os.fdopen(fd, mode), lost, ever

    def write(self, data: bytes) -> None:
        cut = max(0, len(data) - self.lost)
        self.handle.write(data[:cut])
        self.handle.flush()
        if cut >= len(data) - 1:  # the whole record reached the disk (its newline or not)
            row = json.loads(data)
            self.ever.setdefault((row["strategy"], row["seed"], row["cycle"]), row)
        raise Killed

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.handle.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(WRITES)
@example([([("random", 0, 1)], 1), ([("random", 0, 2)], None)])  # only its newline lost
@example([([("random", 0, 1)], 30), ([("random", 0, 2)], None)])  # a torn line, then cut
def test_results_never_lose_or_repeat_a_row(writes):
    """Writers with any run sets (reruns with fewer strategies or seeds, workers with stale
    views, cycles rerun after a kill) and kills inside an append's write: every row once
    written stays as it was, none appears twice, and a killed append leaves at most a torn last
    line, which readers skip and the next append cuts."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        path = out / "results.jsonl"
        ever: dict[tuple, dict] = {}
        for runs, kill in writes:
            before = path.read_bytes() if path.exists() else b""
            if kill is not None:
                files_module.open = lambda fd, mode, kill=kill: KilledWriting(fd, mode, kill, ever)
            try:
                for strategy, seed, done in runs:
                    for cycle in range(1, done + 1):
                        if append_result(out, record(strategy, seed, cycle)):
                            ever.setdefault((strategy, seed, cycle), record(strategy, seed, cycle))
            except Killed:
                pass
            finally:
                vars(files_module).pop("open", None)  # the built-in open again
            after = path.read_bytes() if path.exists() else b""
            assert after.startswith(before[: before.rfind(b"\n") + 1])  # earlier lines stay
            on_disk = read_results(path)  # refuses a repeated row, skips a torn last line
            keys = [(r["strategy"], r["seed"], r["cycle"]) for r in on_disk]
            assert keys == sorted(set(keys)) and set(keys) == set(ever)
            assert all(r == ever[k] for k, r in zip(keys, on_disk, strict=True))


def test_two_workers_writing_at_once_never_shrink_the_file(tmp_path):
    """Each worker appends every record it holds (its runs only, a stale view that repeats
    rows) after each cycle, while a reader polls the file: the count of rows never goes
    down, and each row is there once."""
    import threading

    def worker(strategy: str) -> None:
        held = []
        for cycle in range(1, 16):
            for seed in (0, 1):
                held.append(record(strategy, seed, cycle))
                for row in held:
                    append_result(tmp_path, row)

    counts, stop = [], threading.Event()

    def reader() -> None:
        while not stop.is_set():
            path = tmp_path / "results.jsonl"
            if path.exists():
                counts.append(len(read_results(path)))

    threads = [threading.Thread(target=worker, args=(s,)) for s in ("random", "entropy")]
    polling = threading.Thread(target=reader)
    polling.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    polling.join()
    assert len(read_results(tmp_path / "results.jsonl")) == 60
    assert counts and all(a <= b for a, b in zip(counts, counts[1:], strict=False))


def test_a_torn_last_line_is_skipped_by_readers_and_cut_by_the_next_append(tmp_path):
    path = tmp_path / "results.jsonl"
    append_result(tmp_path, record("random", 0, 1))
    whole = path.read_bytes()
    path.write_bytes(whole + json.dumps(record("random", 0, 2)).encode()[:20])  # a killed append
    assert read_results(path) == [record("random", 0, 1)]
    assert read_report_records(path) == [record("random", 0, 1)]
    assert append_result(tmp_path, record("random", 0, 2))
    assert not append_result(tmp_path, record("random", 0, 2))  # a rerun cycle: kept once
    assert path.read_bytes() == whole + (json.dumps(record("random", 0, 2)) + "\n").encode()
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00")  # not a torn line: never cut, always named
    with pytest.raises(CorruptFileError, match="results.jsonl:1"):
        append_result(tmp_path, record("random", 0, 3))
    assert path.read_bytes() == b"\x89PNG\r\n\x1a\n\x00"


def test_killed_at_each_record_the_demo_resumes_to_the_same_results(finished_demo, tmp_path):
    """SIGKILL a real ``ll4al demo`` once the 1st, then (resumed) the 2nd and the 3rd record
    is in results.jsonl; the last resume finishes with the uninterrupted run's results."""
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "ll4al.cli", *demo_args(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for kill_after in (1, 2, 3):
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            path = out / "results.jsonl"
            if path.exists() and len(path.read_bytes().splitlines()) >= kill_after:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        process.wait(timeout=60)
        assert process.returncode == -signal.SIGKILL, process.stderr.read()
        process.stderr.close()
        read_results(out / "results.jsonl")  # whole lines only, none repeated
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert without_timings(rows(out)) == without_timings(rows(finished_demo))
    assert (out / "report.md").is_file()
