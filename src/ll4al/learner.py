"""The model as strategies see it: the target network, its LPM if any, the task and the device.

Strategies get this object, not bare predictions, so that one interface can express
uncertainty (probabilities), Learning Loss (predicted losses) and core-set (embeddings).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from typing import Protocol

import numpy as np
import torch
from torch import nn

from ll4al.features import capture_pooled
from ll4al.lpm import LearningLoss
from ll4al.runtime import autocast
from ll4al.tasks import TaskAdapter

OUTPUTS = ("output", "probs", "predicted_loss", "embedding")


class PoolData(Protocol):
    """Any data set that can hand out a batch of model inputs by index."""

    def __len__(self) -> int: ...

    def inputs(self, indices: np.ndarray) -> torch.Tensor: ...


class Learner:
    """A trained (or training) model plus what is needed to run it over pool data."""

    def __init__(
        self,
        model: nn.Module,
        task: TaskAdapter,
        device: torch.device,
        precision: str = "fp32",
        embedding_layer: str | None = None,
        batch_size: int = 512,
        channels_last: bool = False,
    ) -> None:
        self.model = model.to(device)
        self.task = task
        self.device = device
        self.precision = precision
        self.embedding_layer = embedding_layer
        self.batch_size = batch_size
        self.channels_last = channels_last
        if channels_last:
            self.model.to(memory_format=torch.channels_last)

    @property
    def has_loss_prediction(self) -> bool:
        return isinstance(self.model, LearningLoss)

    @property
    def target(self) -> nn.Module:
        """The target network itself, without the LPM."""
        return self.model.model if isinstance(self.model, LearningLoss) else self.model

    def to_device(self, inputs: torch.Tensor) -> torch.Tensor:
        inputs = inputs.to(self.device, non_blocking=True)
        if self.channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    def forward(self, inputs: torch.Tensor) -> tuple[object, torch.Tensor | None]:
        """Run the model on a device batch; ``(output, predicted_loss or None)``."""
        with autocast(self.device, self.precision):
            if isinstance(self.model, LearningLoss):
                return self.model(inputs)
            return self.model(inputs), None

    def batches(self, indices: Sequence[int] | np.ndarray) -> Iterable[np.ndarray]:
        indices = np.asarray(indices, dtype=np.int64)
        for start in range(0, len(indices), self.batch_size):
            yield indices[start : start + self.batch_size]

    @torch.no_grad()
    def infer(
        self, data: PoolData, indices: Sequence[int] | np.ndarray, want: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        """Stream ``data[indices]`` through the model in eval mode, in order, without shuffling.

        ``want`` names what to return (on the CPU): ``probs``, ``predicted_loss``,
        ``embedding`` (pooled output of ``embedding_layer``) and ``output``.
        """
        unknown = set(want) - set(OUTPUTS)
        if unknown:
            raise ValueError(f"unknown inference outputs {sorted(unknown)}; choose from {OUTPUTS}")
        if "predicted_loss" in want and not self.has_loss_prediction:
            raise ValueError("this model has no loss prediction module")
        if "embedding" in want and self.embedding_layer is None:
            raise ValueError("this learner has no embedding_layer for feature-based strategies")
        was_training = self.model.training
        self.model.eval()
        results: dict[str, list[torch.Tensor]] = {name: [] for name in want}
        try:
            with ExitStack() as stack:
                embeddings = (
                    stack.enter_context(capture_pooled(self.target, self.embedding_layer))
                    if "embedding" in want
                    else None
                )
                for batch in self.batches(indices):
                    output, predicted = self.forward(self.to_device(data.inputs(batch)))
                    if "output" in want:
                        results["output"].append(output.float().cpu())
                    if "probs" in want:
                        results["probs"].append(self.task.probabilities(output).cpu())
                    if "predicted_loss" in want:
                        results["predicted_loss"].append(predicted.float().cpu())
                    if embeddings is not None:
                        if not embeddings:
                            raise RuntimeError(
                                f"embedding layer {self.embedding_layer!r} did not run in the "
                                "forward pass; choose a layer on its path"
                            )
                        results["embedding"].append(embeddings[-1].cpu())
                        embeddings.clear()  # a layer run twice per pass keeps its last output
        finally:
            self.model.train(was_training)
        return {
            name: torch.cat(parts) if parts else torch.empty(0) for name, parts in results.items()
        }
