"""Metrics that fit imbalanced data: balanced accuracy, per-class recall, AUROC (two
classes), and any of them as the metric that reports."""

from __future__ import annotations

import pytest
import torch

from ll4al.config import ConfigError
from ll4al.experiments.validation import validate_config
from ll4al.tasks import ClassificationTask, DetectionTask

from ..al.test_loop import make_run
from ..helpers import tiny_spec


def rare_finding() -> tuple[torch.Tensor, torch.Tensor]:
    """90 normal scans, 10 with the finding; the model says 'normal' to all of them, but
    ranks every finding above every normal scan."""
    truth = torch.tensor([0] * 90 + [1] * 10)
    finding_logit = torch.cat([torch.linspace(-5, -3, 90), torch.linspace(-2, -1, 10)])
    return torch.stack([torch.zeros(100), finding_logit], dim=1), truth


def test_a_model_blind_to_the_rare_class_is_told_apart():
    outputs, truth = rare_finding()
    metrics = ClassificationTask().metrics([outputs], [truth])
    assert metrics["accuracy"] == pytest.approx(0.9)  # looks good
    assert metrics["balanced_accuracy"] == pytest.approx(0.5)  # is not
    assert (metrics["recall_0"], metrics["recall_1"]) == (1.0, 0.0)
    assert metrics["auroc"] == pytest.approx(1.0)  # its scores rank perfectly all the same
    in_batches = ClassificationTask().metrics(
        [outputs[:33], outputs[33:]], [truth[:33], truth[33:]]
    )
    assert in_batches == metrics


def test_three_classes_have_no_auroc_and_recall_per_class_present():
    outputs = torch.eye(3)[[0, 1, 1, 1]] * 5  # predicts 0, 1, 1, 1
    metrics = ClassificationTask().metrics([outputs], [torch.tensor([0, 1, 1, 0])])
    assert metrics["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert set(metrics) == {"accuracy", "balanced_accuracy", "recall_0", "recall_1"}


def test_the_reported_metric_can_be_named():
    task = ClassificationTask().with_metric("balanced_accuracy")
    assert task.metric_name == "balanced_accuracy"
    assert ClassificationTask().metric_name == "accuracy"  # per instance, not per class
    with pytest.raises(ConfigError, match="metric 'f1' is not one of.*balanced_accuracy"):
        ClassificationTask().with_metric("f1")
    with pytest.raises(ConfigError, match="metric 'auroc'"):
        DetectionTask(["cell"]).with_metric("auroc")


def test_a_benchmark_records_the_named_metric_as_primary(tmp_path):
    run = make_run(tmp_path, tiny_spec(cycles=1), ClassificationTask().with_metric("auroc"))
    with pytest.raises(Exception, match="auroc needs two classes"):  # 4 classes
        run.run()
    run = make_run(
        tmp_path / "b", tiny_spec(cycles=1), ClassificationTask().with_metric("balanced_accuracy")
    )
    (record,) = run.run()
    assert record["primary_metric"] == "balanced_accuracy"
    assert 0 <= record["balanced_accuracy"] <= 1 and "recall_3" in record


def test_a_config_naming_an_unknown_metric_is_refused():
    from ll4al.config import load_config

    config = load_config("demo")
    config.data.metric = "balanced_accuracy"
    validate_config(config)
    config.data.metric = "precision"
    with pytest.raises(ConfigError, match="metric 'precision'"):
        validate_config(config)


def test_a_project_names_its_metric(tmp_path):
    from PIL import Image

    from ll4al.project.commands import init_project
    from ll4al.project.project import Project

    for n in range(3):
        Image.new("L", (8, 8), 40 * n).save(tmp_path / f"{n}.png")

    def init(name: str, classes: list[str], metric: str) -> None:
        options = {"image_size": 8, "active": {"initial": 2}}
        overrides = [f"metric={metric}"]
        init_project(
            tmp_path / name,
            tmp_path,
            "classification",
            classes,
            options,
            overrides,
            log=print,
            progress=False,
        )

    with pytest.raises(ConfigError, match="metric auroc needs two classes, got 3"):
        init("three", ["a", "b", "c"], "auroc")
    init("two", ["normal", "finding"], "auroc")
    project = Project.open(tmp_path / "two")
    assert project.task.metric_name == "auroc"
    project.close()
