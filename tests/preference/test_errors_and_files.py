"""``ll4al prefer``'s own error, its refusals, and its crash-safe output files."""

import pytest

pytest.importorskip("pymoo")

import json  # noqa: E402
import pathlib  # noqa: E402
from contextlib import contextmanager  # noqa: E402

import ll4al.files  # noqa: E402
import ll4al.preference  # noqa: E402
from ll4al.preference import cli, experiment  # noqa: E402
from ll4al.preference.errors import PreferenceError  # noqa: E402

SMALL = ["--problem", "dtlz2", "--n-obj", "3", "--generations", "3", "--pop-size", "8"]


def small_run(out, *extra):
    return [*SMALL, "--algorithms", "nsga2", "--out", str(out), "--no-progress", *extra]


def snapshot(root: pathlib.Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes; empty when ``root`` does not exist."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def test_the_wing_has_its_own_error_and_borrows_none():
    assert issubclass(PreferenceError, ValueError)
    package = pathlib.Path(ll4al.preference.__file__).parent
    for module in package.glob("*.py"):
        assert "ll4al.config" not in module.read_text(), module.name


@pytest.mark.parametrize(
    "flag,value",
    [
        ("--n-obj", "1"),
        ("--n-obj", "0"),
        ("--pop-size", "0"),
        ("--pop-size", "-4"),
        ("--seeds", "0"),
        ("--seeds", "-1"),
        ("--generations", "0"),
        ("--tau", "0"),
        ("--first-seed", "-1"),
        ("--noise-flip", "0.7"),
        ("--noise-flip", "-0.1"),
        ("--nadir-quantile", "0"),
        ("--min-span", "1.5"),
        ("--crowding-share", "1.5"),
        ("--crowding-share", "-0.2"),
    ],
)
def test_bad_flag_is_one_line_naming_it_and_touches_nothing(tmp_path, capsys, flag, value):
    fresh = tmp_path / "fresh"
    assert cli.main([*small_run(fresh), flag, value]) == 2
    err = one_line_error(capsys)
    assert err.startswith("ll4al-prefer: error: ") and flag in err
    assert not fresh.exists()

    existing = tmp_path / "existing"
    assert cli.main(small_run(existing, "--seeds", "1")) == 0
    capsys.readouterr()
    before = snapshot(existing)
    assert cli.main([*small_run(existing), flag, value]) == 2
    assert flag in one_line_error(capsys)
    assert snapshot(existing) == before


def test_bad_setting_in_a_config_file_names_its_flag(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("pop_size: 0\n")
    out = ["--out", str(tmp_path / "o"), "--no-progress"]
    assert cli.main([*out, "--config", str(config)]) == 2
    assert "--pop-size" in one_line_error(capsys)
    assert cli.main([*small_run(tmp_path / "o"), "--config", str(tmp_path / "none.yaml")]) == 2
    assert "--config" in one_line_error(capsys)
    assert not (tmp_path / "o").exists()


def test_experiment_config_refuses_out_of_range_numbers():
    for bad in ({"n_obj": 1}, {"pop_size": 0}, {"seeds": 0}, {"weights": [1, -1, 1]}):
        with pytest.raises(PreferenceError):
            experiment.PreferenceConfig(**bad)
    for name, value, says in (
        ("noise_flip", 0.7, r"noise_flip must lie in \[0, 0.5\], got 0.7"),
        ("nadir_quantile", 0, r"nadir_quantile must lie in \(0, 1\], got 0"),
        ("min_span", -0.1, r"min_span must lie in \[0, 1\], got -0.1"),
        ("crowding_share", 1.5, r"crowding_share must lie in \[0, 1\], got 1.5"),
    ):
        with pytest.raises(PreferenceError, match=says):
            experiment.PreferenceConfig(**{name: value})
    experiment.PreferenceConfig(noise_flip=0.5, nadir_quantile=1, min_span=0)  # the edges
    experiment.PreferenceConfig(crowding_share=0)
    experiment.PreferenceConfig(crowding_share=1)


def test_top_level_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    from ll4al.cli import main

    out = tmp_path / "o"
    assert main(["prefer", *small_run(out), "--pop-size", "0"]) == 2
    err = one_line_error(capsys)
    assert err.startswith("ll4al: error: ") and "--pop-size" in err
    assert not out.exists()


def test_results_of_ll4al_run_are_refused_and_left_as_they_are(tmp_path, capsys):
    out = tmp_path / "run-out"
    out.mkdir()
    records = [
        {"strategy": "random", "seed": 0, "cycle": c, "labeled": 100 * c, "accuracy": 0.5}
        for c in range(3)
    ]
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (out / "config.yaml").write_text("name: demo\n")
    before = snapshot(out)
    assert cli.main(small_run(out, "--seeds", "1")) == 2
    err = one_line_error(capsys)
    assert "ll4al run" in err and "results.jsonl" in err
    assert snapshot(out) == before


def test_results_without_their_config_are_refused(tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.main(small_run(out, "--seeds", "1")) == 0
    (out / "config.json").unlink()
    capsys.readouterr()
    before = snapshot(out)
    assert cli.main(small_run(out, "--seeds", "2")) == 2
    assert "config.json" in one_line_error(capsys)
    assert snapshot(out) == before


def test_torn_last_line_is_skipped_with_a_warning_and_redone(tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.main(small_run(out, "--seeds", "1")) == 0
    first = (out / "results.jsonl").read_text()
    record = json.loads(first)
    record["seed"] = 1
    # what an older version left when killed mid-append
    with (out / "results.jsonl").open("a") as fh:
        fh.write(json.dumps(record)[:37])
    capsys.readouterr()

    assert cli.main(small_run(out, "--seeds", "2")) == 0
    err = capsys.readouterr().err
    assert "torn" in err and str(out / "results.jsonl") in err
    text = (out / "results.jsonl").read_text()
    assert text.startswith(first) and text.endswith("\n")
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(r["algorithm"], r["seed"]) for r in lines] == [("nsga2", 0), ("nsga2", 1)]


def test_read_result_lines_warns_by_default_and_refuses_a_bad_middle_line(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"algorithm": "nsga2", "seed": 0}\n{"algorithm": "ns')
    with pytest.warns(UserWarning, match="torn"):
        assert experiment.read_result_lines(path) == ['{"algorithm": "nsga2", "seed": 0}']
    path.write_text('{"algorithm": "ns\n{"algorithm": "nsga2", "seed": 0}\n')
    with pytest.raises(ll4al.files.CorruptFileError, match="line 1"):
        experiment.read_result_lines(path)


def test_corrupt_results_are_one_line_and_left_as_they_are(tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.main(small_run(out, "--seeds", "1")) == 0
    path = out / "results.jsonl"
    path.write_text("{broken\n" + path.read_text())
    capsys.readouterr()
    before = snapshot(out)
    assert cli.main(small_run(out, "--seeds", "2")) == 2
    assert "corrupt" in one_line_error(capsys)
    assert snapshot(out) == before


def test_every_output_file_is_written_atomically(tmp_path, monkeypatch):
    written = []
    real = ll4al.files.atomic_path

    @contextmanager
    def recording(path):
        written.append(pathlib.Path(path).name)
        with real(path) as tmp:
            yield tmp

    monkeypatch.setattr(ll4al.files, "atomic_path", recording)  # write_text/json_atomic
    monkeypatch.setattr(experiment, "atomic_path", recording)  # the PNG
    out = tmp_path / "o"
    assert cli.main(small_run(out, "--seeds", "2")) == 0
    assert written.count("results.jsonl") == 3  # created, then one write per run
    assert {"config.json", "finals-seed0.json", "table.md", "final_populations.png"} <= set(written)
    assert set(written) >= {p.name for p in out.iterdir()}  # nothing written another way
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_a_kill_mid_write_leaves_results_whole(tmp_path, monkeypatch):
    out = tmp_path / "o"
    assert cli.main(small_run(out, "--seeds", "1")) == 0
    before = (out / "results.jsonl").read_bytes()
    real_write = pathlib.Path.write_text

    def dies_halfway(self, text, *args, **kwargs):
        if self.name.startswith(".results.jsonl"):
            real_write(self, text[: len(text) // 2], *args, **kwargs)
            raise KeyboardInterrupt  # the process is stopped in the middle of the write
        return real_write(self, text, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        cli.main(small_run(out, "--seeds", "2"))
    assert (out / "results.jsonl").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
