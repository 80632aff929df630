"""Small builders shared by the tests: learners, run specs, the command line."""

from __future__ import annotations

import subprocess
import sys

import torch

from ll4al.al.session import LearnerRecipe
from ll4al.al.simulation import RunSpec
from ll4al.config import ActiveSettings, ModelSettings, TrainSettings
from ll4al.strategies import get_strategy
from ll4al.tasks import ClassificationTask


def tiny_recipe(data, task=None, precision="fp32") -> LearnerRecipe:
    """A width-0.25 small CNN for 4 classes of ``data``'s 3-channel images, on the CPU."""
    return LearnerRecipe(
        ModelSettings(name="small-cnn", width=0.25, lpm_hidden=16),
        task or ClassificationTask(),
        num_outputs=4,
        in_channels=3,
        example_input=data.inputs(torch.arange(2)),
        device=torch.device("cpu"),
        precision=precision,
        eval_batch_size=64,
    )


def tiny_spec(strategy: str = "learning-loss", seed: int = 0, cycles: int = 3, **train) -> RunSpec:
    settings = TrainSettings(
        **{
            "epochs": 2,
            "batch_size": 16,
            "lr": 0.05,
            "milestones": [],
            "stop_gradient_epoch": 1,
            "augment": "none",
            **train,
        }
    )
    active = ActiveSettings(initial=10, query_size=8, subset=30, cycles=cycles)
    return RunSpec(get_strategy(strategy), seed, settings, active, {"test": 1, "cycles": cycles})


class TensorImages:
    """Pool data straight from a tensor of model inputs ``[N, C, H, W]``."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def inputs(self, indices):
        return self.x[torch.as_tensor(indices)]


def set_args(settings: list[str]) -> list[str]:
    """``--set KEY=VALUE`` for each setting, as the command line takes them."""
    return [arg for setting in settings for arg in ("--set", setting)]


def ll4al(*args, cwd) -> subprocess.CompletedProcess:
    """The ``ll4al`` command as a user runs it, in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "ll4al.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
