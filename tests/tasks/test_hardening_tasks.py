"""Hardening of the tasks' metrics: a metric that cannot be computed is an error, not a
number.
"""

from __future__ import annotations

import pytest
import torch

from ll4al import cli
from ll4al.tasks import DetectionTask, MetricError


def test_a_map50_that_cannot_be_computed_is_an_error_not_minus_one():
    task = DetectionTask(("RBC", "WBC"))
    no_boxes = task.collate_targets([{"boxes": [], "labels": []}], torch.device("cpu"))
    guess = {"boxes": torch.tensor([[0.0, 0, 5, 5]]), "labels": torch.tensor([1]),
             "scores": torch.tensor([0.9])}  # fmt: skip
    task.detections = lambda output: [guess]
    with pytest.raises(MetricError, match="map50 cannot be computed"):
        task.metrics([None], [no_boxes])
    assert MetricError in cli.user_errors()
