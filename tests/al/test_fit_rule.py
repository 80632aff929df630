"""Training that fits the label count: the rule, and a project's rounds trained and recorded
by it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ll4al.al.fit_rule import AUTO_KEYS, RULES, LabelRule, steps_per_epoch, training_record
from ll4al.cli import main
from ll4al.config import TrainSettings
from ll4al.project.project import Project
from ll4al.project.training import round_train_settings

from ..project_helpers import TRAINING, answer_batch, export_digits, init_digits_project

PROTOCOL = TrainSettings(epochs=30, batch_size=128, milestones=[24])  # a project's defaults


def test_few_labels_get_a_quarter_batch_and_a_floor_on_steps():
    fitted = LabelRule(batch_share=0.25, min_batch=4, min_steps=500).apply(PROTOCOL, 100)
    assert (fitted.batch_size, fitted.epochs, fitted.milestones) == (25, 125, [100])
    assert training_record(fitted, 100)["steps"] == 500
    assert (fitted.lr, fitted.augment) == (PROTOCOL.lr, PROTOCOL.augment)


def test_many_labels_train_as_the_protocol_says():
    for rule in RULES.values():
        assert rule.apply(PROTOCOL, 5000) == PROTOCOL


def test_a_setting_left_out_of_auto_is_kept():
    fitted = LabelRule(min_steps=300).apply(PROTOCOL, 100, auto=["epochs", "milestones"])
    assert (fitted.batch_size, fitted.epochs, fitted.milestones) == (128, 300, [240])
    with pytest.raises(ValueError, match="cannot choose"):
        LabelRule().apply(PROTOCOL, 100, auto=["lr"])


def test_steps_per_epoch_skips_a_last_batch_of_one():
    assert [steps_per_epoch(n, 4) for n in (8, 9, 10, 2, 1)] == [2, 2, 3, 1, 1]


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    return export_digits(tmp_path_factory.mktemp("digits"))


def test_a_new_project_leaves_to_the_rule_what_its_user_did_not_set(digits, tmp_path, capsys):
    default = tmp_path / "default"
    assert main(init_digits_project(default, digits, 20, [])) == 0
    assert Project.open(default).settings.train_auto == list(AUTO_KEYS)
    pinned = tmp_path / "pinned"
    assert main(init_digits_project(pinned, digits, 20, ["train.batch_size=64"])) == 0
    assert Project.open(pinned).settings.train_auto == ["epochs", "milestones"]
    assert main(init_digits_project(tmp_path / "bad", digits, 20, ["train_auto=[lr]"])) != 0
    assert "train_auto must be a list of some of" in capsys.readouterr().err


def test_a_project_made_before_the_rule_trains_as_written(digits, tmp_path):
    folder = tmp_path / "old"
    assert main(init_digits_project(folder, digits, 20, [])) == 0
    values = yaml.safe_load((folder / "project.yaml").read_text())
    del values["train_auto"]
    (folder / "project.yaml").write_text(yaml.safe_dump(values))
    settings = Project.open(folder).settings
    assert settings.train_auto == []
    assert round_train_settings(settings, 100) == settings.train


def test_a_round_records_and_logs_the_training_it_used(digits, tmp_path, capsys):
    folder = tmp_path / "project"
    fast = [s for s in TRAINING if not s.startswith("train.batch_size")]  # the rule's batch
    assert main(init_digits_project(folder, digits, 30, [*fast, "active.subset=200"])) == 0
    assert main(["query", str(folder), "--k", "30", "--quiet"]) == 0
    answers = answer_batch(folder / "batches" / "batch-001.csv", tmp_path / "answers.csv")
    assert main(["import", str(folder), str(answers)]) == 0
    capsys.readouterr()
    assert main(["query", str(folder), "--k", "10"]) == 0
    project = Project.open(folder)
    record = json.loads(project.store.round_record(0)["training"])
    project.close()
    # epochs pinned at 3; batch: a quarter of 30 labels; 30 = 4 x 7 + 2: 5 steps an epoch
    assert record == {
        "labels": 30,
        "batch_size": 7,
        "epochs": 3,
        "steps": 15,
        "lr": 0.05,
        "milestones": [],
        "gamma": 0.1,
        "augment": "none",
    }
    logged = capsys.readouterr().out
    assert "round 0: batch 7, 15 steps in 3 epochs, lr 0.05, augment none" in logged


def test_a_frozen_round_trains_its_head_by_the_rule(digits, tmp_path, monkeypatch):
    """With an encoder the round trains a head on its embeddings: the head gets the rule's
    batch and epochs too (without image augmentation), and round-NNN.json and the round's row
    say so."""
    monkeypatch.setenv("LL4AL_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "frozen"
    fast = [s for s in TRAINING if not s.startswith(("train.batch_size", "train.epochs"))]
    fast = [s for s in fast if s != "train.augment=none"]  # crop-flip, for the head to drop
    settings = [*fast, "active.subset=200", "model.mode=auto"]
    assert main(init_digits_project(folder, digits, 30, settings)) == 0
    assert main(["pretrain", str(folder), "--epochs", "1", "--limit", "128", "--quiet"]) == 0
    assert main(["query", str(folder), "--k", "30", "--quiet"]) == 0
    answers = answer_batch(folder / "batches" / "batch-001.csv", tmp_path / "answers.csv")
    assert main(["import", str(folder), str(answers)]) == 0
    assert main(["query", str(folder), "--k", "10", "--quiet"]) == 0
    project = Project.open(folder)
    assert project.settings.train.augment == "crop-flip"
    record = json.loads(project.store.round_record(0)["training"])
    weights = project.store.round_record(0)["weights"]
    project.close()
    # a quarter of 30 labels: batch 7, 5 steps an epoch; 1,000 steps at least: 200 epochs
    assert (record["batch_size"], record["epochs"], record["steps"]) == (7, 200, 1000)
    assert record["augment"] == "none"
    trained = json.loads((folder / "models" / weights).with_suffix(".json").read_text())
    assert trained["mode"] == "frozen" and trained["network"] == "mlp"
    assert (trained["batch_size"], trained["epochs"], trained["steps"]) == (7, 200, 1000)
    assert trained["augment"] == "none"
