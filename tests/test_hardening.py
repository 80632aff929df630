"""Nothing lost, nothing silently wrong: results that never shrink, every bad input one line.

Each bad input gets exit code 2, one line on stderr naming the key or file, and leaves the
``--out`` folder byte-identical. The demo runs in-process (``cli.main``) at a tiny size; only
the crash-resume check needs real processes, to kill them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ll4al import cli
from ll4al.al.pool import Pool, PoolError
from ll4al.config import ConfigError, config_from_dict, load_config
from ll4al.experiments import experiment
from ll4al.experiments import results as results_module
from ll4al.experiments.claims import claim
from ll4al.experiments.report import plot_learning_curves
from ll4al.experiments.results import merge_results, read_results
from ll4al.files import CorruptFileError, atomic_path
from ll4al.tasks import DetectionTask, MetricError

from .tasks.test_detection import make_voc, write_xml

TINY = ["active.cycles=2", "seeds=[0]", "train.epochs=2"]
TIMINGS = ("train_seconds", "query_seconds")


def sets(*settings: str) -> list[str]:
    return [arg for setting in settings for arg in ("--set", setting)]


def demo_args(out: Path, *extra: str) -> list[str]:
    return ["demo", "--out", str(out), *sets(*TINY, *extra), "--quiet"]


def snapshot(folder: Path) -> dict[str, bytes] | None:
    """Every file under ``folder`` with its bytes (None if the folder does not exist)."""
    if not folder.exists():
        return None
    if folder.is_file():
        return {"": folder.read_bytes()}
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def refused(capsys, args: list[str], out: Path | None, *names: str) -> str:
    """Run the command, expecting exit 2 and one line on stderr that names each of ``names``,
    with ``out`` byte-identical before and after; returns the line."""
    before = snapshot(out) if out is not None else None
    code = cli.main(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("ll4al: error: "), err
    for name in names:
        assert name in lines[0], (name, lines[0])
    if out is not None:
        assert snapshot(out) == before
    return lines[0]


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def without_timings(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMINGS} for r in records]


@pytest.fixture(scope="module")
def finished_demo(tmp_path_factory) -> Path:
    """A finished tiny demo (random and learning-loss-balanced, seed 0, 2 cycles: 4 rows), run once
    in-process single-threaded (as the killed subprocesses below run)."""
    out = tmp_path_factory.mktemp("demo") / "finished"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert cli.main(demo_args(out)) == 0
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture
def demo_copy(finished_demo, tmp_path) -> Path:
    out = tmp_path / "demo"
    shutil.copytree(finished_demo, out)
    return out


# --- Silent data loss --------------------------------------------------------------------


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


# --- Wrong results with no error ---------------------------------------------------------


def test_a_map50_that_cannot_be_computed_is_an_error_not_minus_one():
    task = DetectionTask(("RBC", "WBC"))
    no_boxes = task.collate_targets([{"boxes": [], "labels": []}], torch.device("cpu"))
    guess = {"boxes": torch.tensor([[0.0, 0, 5, 5]]), "labels": torch.tensor([1]),
             "scores": torch.tensor([0.9])}  # fmt: skip
    task.detections = lambda output: [guess]
    with pytest.raises(MetricError, match="map50 cannot be computed"):
        task.metrics([None], [no_boxes])
    assert MetricError in cli.user_errors()


def test_a_voc_split_without_any_box_is_refused_at_load_time(tmp_path, capsys):
    make_voc(tmp_path / "voc", [(64, 64), (64, 64), (64, 64)])
    write_xml(tmp_path / "voc" / "Annotations" / "2.xml", 64, 64, [("RBC", (9, 9, 9, 20), False)])
    settings = ["data.name=bccd", f"data.root={tmp_path / 'voc'}", "active.initial=2"]
    out = tmp_path / "out"
    args = ["run", "bccd-cpu", "--out", str(out), *sets(*settings), "--quiet"]
    with pytest.warns(UserWarning, match="dropped degenerate"):
        refused(capsys, args, out, "split 'test'", "no boxes")
    assert not out.exists()


def test_a_state_listing_an_index_twice_is_refused_naming_it(demo_copy, capsys):
    path = demo_copy / "runs" / "random-seed0" / "state.json"
    state = json.loads(path.read_text())
    state["pool"]["labeled"].append(state["pool"]["labeled"][0])  # the same index, again
    path.write_text(json.dumps(state))
    refused(capsys, demo_args(demo_copy), demo_copy, str(path), "twice")
    with pytest.raises(PoolError, match=r"listed twice: \[3\]"):
        Pool.from_dict({"size": 5, "labeled": [[3, "a"], [1, "b"], [3, "a"]]})


# --- One line where a traceback was ------------------------------------------------------


@pytest.mark.parametrize(
    "setting,message",
    [
        ("active.query_size=abc", "active.query_size must be an integer, got 'abc'"),
        ("train.lr=fast", "train.lr must be a number, got 'fast'"),
        ("train.epochs=2.5", "train.epochs must be an integer, got 2.5"),
        ("seeds=[a,b]", "seeds must be a list of integers"),
        ("seeds=[0,1", "--set seeds: '[0,1' is not a valid YAML value"),
        ("data.download=maybe", "data.download must be true or false"),
        ("model.lpm_layers=[1]", "model.lpm_layers must be a list of strings or null"),
        ("active.query_size=0", "active.query_size must be >= 1, got 0"),
        ("active.subset=0", "active.subset must be >= 1, got 0"),
        ("active.cycles=-1", "active.cycles must be >= 1, got -1"),
        ("active.initial=1", "active.initial must be >= 2"),
    ],
)
def test_a_setting_of_the_wrong_type_or_range_is_named(demo_copy, capsys, setting, message):
    refused(capsys, ["demo", "--out", str(demo_copy), *sets(setting)], demo_copy, message)


def test_a_value_of_the_wrong_type_in_a_file_names_its_key(tmp_path, capsys):
    (tmp_path / "exp.yaml").write_text('train:\n  epochs: "ten"\n')
    out = tmp_path / "out"
    refused(capsys, ["run", str(tmp_path / "exp.yaml"), "--out", str(out)], out, "train.epochs")
    (tmp_path / "exp.yaml").write_text("train: {epochs: [1\n")
    refused(capsys, ["run", str(tmp_path / "exp.yaml")], None, "exp.yaml is not valid YAML")
    assert config_from_dict({"train": {"lr": 1}}).train.lr == 1  # an int is a fine float
    with pytest.raises(ConfigError, match="train.augment must be a string, got True"):
        config_from_dict({"train": {"augment": True}})


def image_folders(root: Path, test_classes=("a", "b")) -> Path:
    for split, classes in (("train", ("a", "b")), ("test", test_classes)):
        for i, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for j in range(3):
                color = (i * 90 + j, 20, 40)
                Image.new("RGB", (8, 8), color).save(root / split / name / f"{j}.png")
    return root


def jpeg_bytes() -> bytes:
    path = Path(tempfile.mkdtemp()) / "x.jpg"
    Image.effect_noise((32, 32), 60).convert("RGB").save(path)
    data = path.read_bytes()
    shutil.rmtree(path.parent)
    return data


@pytest.mark.parametrize(
    "case", ["zero-byte", "truncated-jpeg", "not-an-image", "other-classes", "imagefolder"]
)
def test_a_bad_image_folder_is_a_one_line_error(tmp_path, capsys, monkeypatch, case):
    monkeypatch.setenv("LL4AL_CACHE", str(tmp_path / "cache"))
    root = image_folders(tmp_path / "cifar", ("a", "c") if case == "other-classes" else ("a", "b"))
    bad = root / "train" / "b" / "bad.jpg"
    names: tuple[str, ...] = (str(bad),)
    if case in ("zero-byte", "imagefolder"):
        bad.write_bytes(b"")
    elif case == "truncated-jpeg":
        bad.write_bytes(jpeg_bytes()[:300])
    elif case == "not-an-image":
        bad.write_text("hello")
    else:
        names = ("different class folders",)
    name = "imagefolder" if case == "imagefolder" else "cifar10"
    out = tmp_path / "out"
    settings = [f"data.name={name}", f"data.root={root}", "active.initial=2", "model.width=0.25"]
    args = ["run", "cifar10-cpu", "--out", str(out), *sets(*settings), "--quiet"]
    refused(capsys, args, out, *names)
    assert not out.exists()


def face_npz(path: Path, n: int = 8, **arrays) -> Path:
    values = {
        "x": np.zeros((n, 64, 64, 3), np.uint8),
        "kp": np.zeros((n, 14, 2), np.float32),
        "image_id": np.arange(n),
    }
    values.update(arrays)
    np.savez(path, **{k: v for k, v in values.items() if v is not None})
    return path


@pytest.mark.parametrize("case", ["no-kp", "wrong-shape", "truncated", "not-a-zip"])
def test_a_bad_face_keypoints_file_is_named(tmp_path, capsys, case):
    path = tmp_path / "face64.npz"
    if case == "no-kp":
        face_npz(path, kp=None)
    elif case == "wrong-shape":
        face_npz(path, x=np.zeros((8, 32, 32, 3), np.uint8))
    elif case == "truncated":
        data = face_npz(path).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(b"\x00" * 100)
    out = tmp_path / "out"
    args = ["run", "face-keypoints-cpu", "--out", str(out), *sets(f"data.root={tmp_path}")]
    refused(capsys, args, out, str(path))
    assert not out.exists()


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
        else:
            state["records"] = state["records"][:1]
        path.write_text(json.dumps(state))
    refused(capsys, demo_args(demo_copy), demo_copy, str(path), "corrupt")


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


# --- Smaller hardening -------------------------------------------------------------------


def test_lock_files_never_follow_a_planted_symlink(tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "lock").symlink_to(victim)
    with pytest.raises(CorruptFileError, match="symbolic link"), claim(tmp_path / "run", True):
        pass
    (tmp_path / "results.jsonl.lock").symlink_to(victim)
    with pytest.raises(CorruptFileError, match="results.jsonl.lock is a symbolic link"):
        merge_results(tmp_path, [])
    assert victim.read_text() == "precious"
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "lock").write_text("kept")  # an existing lock file is not truncated
    with claim(tmp_path / "plain", wait=False) as mine:
        assert mine
    assert (tmp_path / "plain" / "lock").read_text() == "kept"


@pytest.mark.parametrize("name", ["../../escape", "a/b", ".", "..", "", "sp ace"])
def test_a_config_name_that_is_not_a_plain_folder_name_is_refused(tmp_path, capsys, name):
    cwd = tmp_path / "a" / "b"
    cwd.mkdir(parents=True)
    (cwd / "exp.yaml").write_text(json.dumps({"name": name}))
    before = snapshot(tmp_path)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        refused(capsys, ["run", "exp.yaml", *sets(*TINY)], None, f"name {name!r}")
    finally:
        os.chdir(old)
    assert snapshot(tmp_path) == before


def test_atomic_writes_reach_the_disk_before_and_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(
        os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd))
    )
    with atomic_path(tmp_path / "f.txt") as tmp:
        tmp.write_text("new")
    assert len(synced) == 2 and Path(synced[0]).name.startswith(".f.txt.")
    assert Path(synced[1]) == tmp_path.resolve()


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


# --- Properties: the results writer and the pool state ------------------------------------


class Killed(Exception):
    pass


def replace_then_kill(src, dst):
    raise Killed


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
        st.sampled_from([None, "mid-write", "before-rename"]),  # a kill, or none
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(WRITES)
def test_results_never_lose_or_repeat_a_row(writes):
    """Writers with any run sets (reruns with fewer strategies or seeds, workers with stale
    views) and kills inside the write: every row once written stays, none appears twice, and
    a killed write leaves the file as it was."""
    real_write, real_replace = results_module.write_text_atomic, os.replace
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        ever: dict[tuple, dict] = {}
        for runs, kill in writes:
            sets_ = [
                SimpleNamespace(records=[record(s, seed, c) for c in range(1, done + 1)])
                for s, seed, done in runs
            ]
            before = snapshot(out).get("results.jsonl")

            def half_then_kill(path, text):
                with atomic_path(path) as tmp:
                    tmp.write_text(text[: len(text) // 2])
                    raise Killed

            try:
                if kill == "mid-write":
                    results_module.write_text_atomic = half_then_kill
                elif kill == "before-rename":
                    os.replace = replace_then_kill
                if kill is None:
                    merge_results(out, [r for s in sets_ for r in s.records])
                    ever.update(
                        {
                            (r["strategy"], r["seed"], r["cycle"]): r
                            for s in sets_
                            for r in s.records
                        }
                    )
                else:
                    with pytest.raises(Killed):
                        merge_results(out, [r for s in sets_ for r in s.records])
                    assert snapshot(out).get("results.jsonl") == before
            finally:
                results_module.write_text_atomic, os.replace = real_write, real_replace
            on_disk = read_results(out / "results.jsonl")  # refuses a repeated row
            keys = [(r["strategy"], r["seed"], r["cycle"]) for r in on_disk]
            assert keys == sorted(set(keys)) and set(keys) == set(ever)
            assert all(r == ever[k] for k, r in zip(keys, on_disk, strict=True))
            assert not [p for p in out.iterdir() if ".tmp" in p.name]


def test_two_workers_writing_at_once_never_shrink_the_file(tmp_path):
    """Each worker rewrites results.jsonl from its own view (its runs only) after each cycle,
    while a reader polls the file: the count of rows never goes down."""
    import threading

    def worker(strategy: str) -> None:
        runs = [SimpleNamespace(records=[]), SimpleNamespace(records=[])]
        for cycle in range(1, 16):
            for seed, run in enumerate(runs):
                run.records.append(record(strategy, seed, cycle))
                merge_results(tmp_path, [r for run in runs for r in run.records])

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


@settings(max_examples=60, deadline=None)
@given(
    st.integers(5, 40).flatmap(
        lambda size: st.tuples(
            st.just(size),
            st.permutations(range(size)),
            st.lists(st.tuples(st.integers(1, 5), st.booleans()), max_size=8),
        )
    )
)
def test_a_pool_state_survives_killed_saves_and_refuses_repeats(case):
    """Labels added in batches, each batch saved (or killed mid-save): the file always loads
    to the pool as of its last completed save, and a state listing an index twice never
    loads."""
    size, order, batches = case
    real_replace = os.replace
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.json"
        pool, saved, start = Pool(size), None, 0
        for count, killed in batches:
            batch = order[start : start + count]
            if not batch:
                break
            pool.add_labels(batch, [f"c{i % 3}" for i in batch])
            start += len(batch)
            if killed:
                os.replace = replace_then_kill
                try:
                    with pytest.raises(Killed):
                        pool.save(path)
                finally:
                    os.replace = real_replace
            else:
                pool.save(path)
                saved = pool.to_dict()
            if saved is None:
                assert not path.exists()
                continue
            loaded = Pool.load(path)
            assert loaded.to_dict() == saved
            assert len(set(loaded.labeled.tolist())) == len(loaded.labeled)
        if saved is not None and saved["labeled"]:
            repeated = {**saved, "labeled": [*saved["labeled"], saved["labeled"][-1]]}
            with pytest.raises(PoolError, match="listed twice"):
                Pool.from_dict(repeated)


# --- Crash and resume --------------------------------------------------------------------


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
