"""What the next batch is expected to buy, in ``status``, ``--json`` and the status page, and
``query`` stopping where the project's stop rule is met."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ll4al.cli import main
from ll4al.project.commands import init_project
from ll4al.project.project import Project, ProjectError
from ll4al.project.web import create_app

from .web_helpers import DIGITS, export_some_digits, quiet

#: A curve that flattens: 4 rounds of 100 labels more each.
CURVE = [(100, 0.60), (200, 0.70), (300, 0.74), (400, 0.76)]


def rounds_project(tmp: Path, curve=CURVE, stop=None, metrics: bool = True) -> Path:
    """A digits project at 25 RMB and 4.5 minutes a label whose rounds are ``curve`` (no
    batch open), with ``stop`` as its rule."""
    images = tmp / "images"
    export_some_digits(images, 20)
    folder = tmp / "project"
    options = {
        "image_size": 8,
        "active": {"initial": 2},
        "cost": {"minutes": 4.5, "money": 25, "currency": "RMB"},
        **({"stop": stop} if stop else {}),
    }
    init_project(folder, images, "classification", DIGITS, options, [], progress=False, log=quiet)
    project = Project.open(folder)
    for index, (labeled, accuracy) in enumerate(curve):
        shown = {"accuracy": accuracy} if metrics else None
        project.store.save_round(index, labeled, f"d{index}", f"round-{index:03d}.pt", shown, 1.0)
    project.close()
    return folder


def test_status_says_what_the_next_batch_buys_and_costs(tmp_path, capsys):
    folder = rounds_project(tmp_path)
    capsys.readouterr()
    assert main(["status", str(folder)]) == 0
    out = capsys.readouterr().out
    # no batch yet: the next batch is 100 labels, at 4.5 min and 25 RMB each
    line = next(x for x in out.splitlines() if x.startswith("next 100 labels:"))
    assert "points of accuracy" in line and "80% interval" in line
    assert line.endswith("about 7.5 h and 2,500 RMB")
    assert "inverse power law fitted to 4 rounds" in out
    assert main(["status", str(folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)["next_batch"]
    f = info["forecast"]
    assert info["k"] == 100 and info["money"] == 2500 and info["hours"] == pytest.approx(7.5)
    # the curve's gains shrink (10, 4, 2 points): the next is forecast under 2 points
    assert 0 < f["gain"] < 0.02 and f["low"] < f["gain"] < f["high"]
    assert f["model"] == "power" and f["rounds"] == 4 and info["stop"] is None

    client = create_app(folder, "ana").test_client()
    page = client.get("/status").get_data(as_text=True)
    assert 'id="next-batch"' in page and "about 7.5 h and 2,500 RMB" in page
    assert client.get("/api/status").get_json()["next_batch"]["forecast"]["rounds"] == 4


def test_without_an_evaluation_set_status_says_why_there_is_no_forecast(tmp_path, capsys):
    folder = rounds_project(tmp_path, metrics=False)
    capsys.readouterr()
    assert main(["status", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "next 100 labels: about 7.5 h and 2,500 RMB; no evaluation set" in out


def test_query_stops_where_the_rule_is_met_and_goes_on_with_force(tmp_path, capsys, monkeypatch):
    flat = [*CURVE, (500, 0.765), (600, 0.767)]
    folder = rounds_project(tmp_path, flat, stop={"min_gain_per_100": 1.0, "patience": 2})
    capsys.readouterr()
    assert main(["status", str(folder)]) == 0
    assert "stop rule met" in capsys.readouterr().out
    assert main(["query", str(folder), "--k", "100", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "stop rule met" in err and "pass --force to label another batch" in err
    assert not list((folder / "batches").glob("*.csv"))

    from ll4al.project import query as query_module

    def past_the_rule(self, progress):
        raise ProjectError("past the stop rule")

    monkeypatch.setattr(Project, "pool_data", past_the_rule)
    project = Project.open(folder)
    lines: list[str] = []
    with pytest.raises(ProjectError, match="past the stop rule"):
        query_module.query(project, 100, log=lines.append, force=True)
    project.close()
    assert lines and lines[0].endswith("going on (--force)")


def test_the_rule_does_not_stop_a_curve_still_rising(tmp_path, capsys):
    folder = rounds_project(tmp_path, stop={"min_gain_per_100": 1.0, "patience": 2})
    capsys.readouterr()
    assert main(["status", str(folder), "--json"]) == 0
    stop = json.loads(capsys.readouterr().out)["next_batch"]["stop"]
    assert stop["met"] is False and "not met" in stop["reason"]


def test_without_an_evaluation_set_query_records_the_label_free_signals(tmp_path, capsys):
    """A project with ``stop.stop_set`` and no evaluation set: every round scores the stop
    set once, status shows the kappa with the previous round, the mean uncertainty and the
    LPM's mean predicted loss, and the agreement rule stops ``query``."""
    from ..project_helpers import TRAINING, answer_batch, export_digits, init_digits_project

    digits = export_digits(tmp_path / "digits")
    folder = tmp_path / "signals"
    settings = [*TRAINING, "active.subset=200", "stop.stop_set=60"]
    settings += ["stop.min_agreement=0.01", "stop.patience=1"]
    args = init_digits_project(folder, digits, 30, settings, "--strategy", "learning-loss")
    assert main(args) == 0
    for number, k in enumerate((30, 10, 10), start=1):
        assert main(["query", str(folder), "--k", str(k), "--quiet"]) == 0
        batch = folder / "batches" / f"batch-{number:03d}.csv"
        answered = answer_batch(batch, tmp_path / f"answers-{number}.csv")
        assert main(["import", str(folder), str(answered)]) == 0
    saved = json.loads((folder / "models" / "round-001-stop.json").read_text())
    assert len(saved["predictions"]) == 60 and saved["signals"]["stop_set"] == 60
    capsys.readouterr()
    assert main(["status", str(folder), "--json"]) == 0
    nxt = json.loads(capsys.readouterr().out)["next_batch"]
    assert nxt["forecast"] is None and nxt["reason"].startswith("no evaluation set")
    first, second = nxt["signals"]
    assert first["stop_agreement"] is None and -1 <= second["stop_agreement"] <= 1
    assert second["stop_uncertainty"] > 0 and second["stop_predicted_loss"] is not None
    assert main(["status", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "label-free signals, round 1 on a stop set of 60" in out
    # two models trained on 60 and 70 labels agree far above chance: the rule stops query
    assert second["stop_agreement"] >= 0.01 and "stop rule met" in out
    assert main(["query", str(folder), "--k", "10", "--quiet"]) == 2
    assert "pass --force" in capsys.readouterr().err
