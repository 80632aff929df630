import pytest

pytest.importorskip("pymoo")

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402

from ll4al.preference import cli  # noqa: E402


def test_prefer_cli_writes_results_table_and_plot(tmp_path):
    out = tmp_path / "run"
    status = cli.main(
        [
            "--problem",
            "dtlz2",
            "--n-obj",
            "3",
            "--seeds",
            "2",
            "--generations",
            "21",
            "--pop-size",
            "16",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert status == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted({r["algorithm"] for r in records}) == ["ltr-nsga2", "nsga2", "pinsga2", "r-nsga2"]
    assert sorted({r["seed"] for r in records}) == [0, 1]
    for r in records:
        assert {"algorithm", "seed", "eps_star", "mean_distance", "dm_queries"} <= set(r)
        assert r["n_evals"] == 16 * 21 and r["eps_star"] <= r["mean_distance"]
    by_alg = {r["algorithm"]: r["dm_queries"] for r in records if r["seed"] == 0}
    assert by_alg["ltr-nsga2"] == 20 and 0 < by_alg["pinsga2"] <= 20
    assert by_alg["nsga2"] == by_alg["r-nsga2"] == 0
    table = (out / "table.md").read_text()
    assert "| pinsga2 |" in table and "p vs ltr-nsga2" in table
    assert (out / "final_populations.png").stat().st_size > 0


def test_flags_override_config_which_overrides_defaults(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("problem: dtlz1\nmu: 4\nseeds: 3\n")
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    cli.add_prefer_parser(sub)
    args = parser.parse_args(["prefer", "--config", str(config), "--mu", "6"])
    settings = cli.resolve_settings(args)
    assert settings["problem"] == "dtlz1" and settings["mu"] == 6 and settings["seeds"] == 3
    assert settings["tau"] == 10  # paper default
    config.write_text("mu: 4\nbogus: 1\n")
    with pytest.raises(ValueError, match="bogus"):
        cli.resolve_settings(args)


def test_human_session_stops_and_resumes(tmp_path, monkeypatch, capsys):
    answers = tmp_path / "answers.json"
    flags = [
        "--dm",
        "human",
        "--answers",
        str(answers),
        "--generations",
        "21",
        "--pop-size",
        "12",
        "--mu",
        "3",
        "--out",
        str(tmp_path / "h"),
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("1\n2\nq\n"))
    assert cli.main(flags) == 0
    assert "rerun the same command to resume" in capsys.readouterr().out
    assert len(json.loads(answers.read_text())) == 2
    # resume: the two stored answers replay, the remaining four pairs are asked
    monkeypatch.setattr("sys.stdin", io.StringIO("1\n1\n2\n1\n"))
    assert cli.main(flags) == 0
    assert len(json.loads(answers.read_text())) == 6
    assert (tmp_path / "h" / "final_population.json").exists()


def test_rerun_keeps_done_runs_and_refuses_other_settings(tmp_path, monkeypatch, capsys):
    from ll4al.preference import experiment

    out = tmp_path / "run"
    args = [
        "--problem",
        "dtlz2",
        "--n-obj",
        "3",
        "--generations",
        "12",
        "--pop-size",
        "12",
        "--algorithms",
        "nsga2",
        "ltr-nsga2",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert cli.main([*args, "--seeds", "1"]) == 0
    first = (out / "results.jsonl").read_text()

    calls = []
    real = experiment.run_single
    monkeypatch.setattr(
        experiment,
        "run_single",
        lambda cfg, alg, seed: calls.append((alg, seed)) or real(cfg, alg, seed),
    )
    assert cli.main([*args, "--seeds", "2"]) == 0
    assert sorted(calls) == [("ltr-nsga2", 1), ("nsga2", 1)]  # seed 0 was kept, not rerun
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4 and (out / "results.jsonl").read_text().startswith(first)
    assert (out / "final_populations.png").exists()

    assert cli.main([*args, "--seeds", "2", "--tau", "5"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert len((out / "results.jsonl").read_text().splitlines()) == 4


def test_seed_range_noisy_dm_and_pair_rule_reach_the_runs(tmp_path, monkeypatch):
    from ll4al.preference import experiment

    seen = []
    real = experiment.run_single
    monkeypatch.setattr(
        experiment,
        "run_single",
        lambda cfg, alg, seed: seen.append((cfg, seed)) or real(cfg, alg, seed),
    )
    out = tmp_path / "run"
    flags = ["--generations", "21", "--pop-size", "12", "--mu", "4", "--algorithms", "ltr-nsga2"]
    flags += ["--out", str(out), "--no-progress", "--seeds", "2", "--first-seed", "21"]
    flags += ["--noise-flip", "0.25", "--pair-rule", "uncertain"]
    assert cli.main(flags) == 0
    assert [seed for _, seed in seen] == [21, 22]
    cfg = seen[0][0]
    assert cfg.noise_flip == 0.25 and cfg.pair_rule == "uncertain"
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["seed"] for r in records) == [21, 22]
    assert all(r["dm_queries"] == 8 for r in records)
    config = json.loads((out / "config.json").read_text())
    assert config["noise_flip"] == 0.25 and config["pair_rule"] == "uncertain"
    assert config["first_seed"] == 21
    table = (out / "table.md").read_text()
    assert "answers flipped = 0.25" in table and "pairs: uncertain" in table
    assert "seeds 21-22" in table


def test_a_folder_from_before_crowding_share_existed_resumes_only_with_the_old_behaviour(
    tmp_path, capsys
):
    out = tmp_path / "old"
    args = ["--problem", "dtlz2", "--generations", "3", "--pop-size", "8"]
    args += ["--algorithms", "nsga2", "--out", str(out), "--no-progress"]
    assert cli.main([*args, "--seeds", "1", "--crowding-share", "0"]) == 0
    config = json.loads((out / "config.json").read_text())
    del config["crowding_share"]  # as a version before the setting wrote it
    (out / "config.json").write_text(json.dumps(config))
    capsys.readouterr()

    assert cli.main([*args, "--seeds", "1", "--crowding-share", "0.5"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert cli.main([*args, "--seeds", "2", "--crowding-share", "0"]) == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == 2
