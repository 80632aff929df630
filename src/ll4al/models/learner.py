"""The model as strategies see it: the target network, its LPM if any, the task and the device.

Strategies get this object, not bare predictions, so that one interface can express
uncertainty (probabilities), Learning Loss (predicted losses) and core-set (embeddings).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ll4al.distributed import gather_in_order, shard_batches, world
from ll4al.models.features import capture_pooled, resolve_layer
from ll4al.models.lpm import LearningLoss
from ll4al.runtime import autocast
from ll4al.tasks import TaskAdapter

OUTPUTS = ("probs", "uncertainty", "predicted_loss", "embedding", "mc_probs")
DROPOUT_TYPES = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


class DropoutBeforeEmbedding(RuntimeError):
    """A dropout module ran before the embedding layer, so MC dropout needs full passes."""


@dataclass(frozen=True)
class MCDropout:
    """``passes`` stochastic forward passes with dropout at rate ``p``, masks from ``seed``."""

    passes: int = 20
    p: float = 0.5
    seed: int = 0


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

    def forward(
        self, inputs: torch.Tensor, module: nn.Module | None = None
    ) -> tuple[object, torch.Tensor | None]:
        """Run the model (or ``module``, its DDP wrapper) on a device batch;
        ``(output, predicted_loss or None)``."""
        run = module if module is not None else self.model
        with autocast(self.device, self.precision):
            if isinstance(self.model, LearningLoss):
                return run(inputs)
            return run(inputs), None

    def batches(self, indices: Sequence[int] | np.ndarray) -> Iterable[np.ndarray]:
        indices = np.asarray(indices, dtype=np.int64)
        for start in range(0, len(indices), self.batch_size):
            yield indices[start : start + self.batch_size]

    @contextmanager
    def mc_dropout(self, p: float = 0.5, seed: int = 0, copies: int = 1) -> Iterator[dict]:
        """Make forward passes inside the block stochastic for MC dropout, everything else eval.

        If the target network has dropout modules, only they switch to train mode (at their own
        rates; ``p`` is then unused), so batch norm keeps using its running statistics. If it
        has none, dropout at rate ``p`` is applied to the output of ``embedding_layer`` by a
        forward hook.

        With an ``embedding_layer``, its output is also repeated ``copies`` times along the
        batch: one forward pass then runs the network up to the embedding once and the rest
        (the head) on ``copies`` differently masked copies. That is ``copies`` passes in
        distribution as long as no dropout runs before the embedding (the network up to it is
        then a fixed function of the input); a dropout module of the network that does raises
        ``DropoutBeforeEmbedding`` (a RuntimeError), on which the caller sets ``copies`` back
        to 1. Yields ``{"copies": n, ...}``, the copies one pass returns (1 without an
        ``embedding_layer``; set it to 1 to turn the repeat off), whether the network has
        dropout modules (``"dropout_modules"``) and whether the embedding layer ran in the
        last pass (``"embedded"``): with neither, nothing was dropped and every pass is the
        same. The CPU RNG and
        that of the learner's device type are seeded with ``seed`` on entry and restored on
        exit, so the masks depend on ``seed`` alone and the caller's RNG streams are left as
        they were.
        Modes and hooks are restored even on error.
        """
        dropouts = [m for m in self.target.modules() if isinstance(m, DROPOUT_TYPES)]
        if not dropouts and self.embedding_layer is None:
            raise ValueError(
                "MC dropout needs dropout layers in the target network or an embedding_layer "
                "to apply dropout to"
            )
        layer = (
            None
            if self.embedding_layer is None
            else resolve_layer(self.target, self.embedding_layer)
        )
        modes = {module: module.training for module in self.model.modules()}
        accelerator = self.device.type != "cpu"
        devices = (
            range(torch.get_device_module(self.device.type).device_count()) if accelerator else []
        )
        handles = []
        state = {
            "copies": 1 if layer is None else copies,
            "dropout_modules": bool(dropouts),
            "embedded": False,  # whether the embedding layer has run in the current pass
        }

        def start_pass(_module: nn.Module, _inputs: object) -> None:
            state["embedded"] = False

        def copy_and_mask(_module: nn.Module, _inputs: object, output: torch.Tensor) -> object:
            state["embedded"] = True
            if state["copies"] > 1:
                output = output.repeat((state["copies"],) + (1,) * (output.dim() - 1))
            return output if dropouts else F.dropout(output, p, training=True)

        def check_order(module: nn.Module, _inputs: object) -> None:
            if state["copies"] > 1 and not state["embedded"]:
                raise DropoutBeforeEmbedding(
                    f"{type(module).__name__} runs before embedding layer "
                    f"{self.embedding_layer!r}: copies of the embedding would share its masks"
                )

        try:
            self.model.eval()
            for module in dropouts:
                module.train()
            if layer is not None:
                handles.append(self.target.register_forward_pre_hook(start_pass))
                handles.append(layer.register_forward_hook(copy_and_mask))
                handles += [m.register_forward_pre_hook(check_order) for m in dropouts]
            with torch.random.fork_rng(devices=devices, device_type=self.device.type):
                if accelerator:
                    torch.manual_seed(seed)  # the CPU and every device of this type
                else:
                    torch.random.default_generator.manual_seed(seed)  # leave GPUs untouched
                yield state
        finally:
            for handle in handles:
                handle.remove()
            for module, training in modes.items():
                module.train(training)

    @torch.no_grad()
    def infer(
        self,
        data: PoolData,
        indices: Sequence[int] | np.ndarray,
        want: Sequence[str],
        mc: MCDropout | None = None,
    ) -> dict[str, torch.Tensor]:
        """Stream ``data[indices]`` through the model in eval mode, in order, without shuffling.

        ``want`` names what to return (on the CPU): ``probs``, ``uncertainty`` (the task's
        score), ``predicted_loss`` and ``embedding`` (pooled output of ``embedding_layer``),
        or, alone and with ``mc``, ``mc_probs``: ``[passes, N, C]`` class probabilities under
        MC dropout (``mc_dropout``: the network up to the embedding runs once per batch where it
        can).
        Under torchrun each rank scores its shard and every rank gets all results.
        """
        if ("mc_probs" in want) != (mc is not None) or (mc is not None and len(want) != 1):
            raise ValueError("mc_probs is asked for alone, and only with mc settings")
        unknown = set(want) - set(OUTPUTS)
        if unknown:
            raise ValueError(f"unknown inference outputs {sorted(unknown)}; choose from {OUTPUTS}")
        if "predicted_loss" in want and not self.has_loss_prediction:
            raise ValueError("this model has no loss prediction module")
        if "embedding" in want and self.embedding_layer is None:
            raise ValueError("this learner has no embedding_layer for feature-based strategies")
        current = world()
        mine = shard_batches(np.asarray(indices, dtype=np.int64), self.batch_size, current)
        results = self._infer_shard(data, mine, want, mc)
        if current.distributed:  # every rank gets every shard, in rank (= pool) order
            shards = gather_in_order(results, current)
            results = {name: [p for shard in shards for p in shard[name]] for name in want}
        return {
            name: torch.cat(parts, dim=1 if name == "mc_probs" else 0) if parts else torch.empty(0)
            for name, parts in results.items()
        }

    @torch.no_grad()
    def _infer_shard(
        self, data: PoolData, indices: np.ndarray, want: Sequence[str], mc: MCDropout | None
    ) -> dict[str, list[torch.Tensor]]:
        """Per-batch results of ``infer`` over ``indices`` in this process."""
        modes = {module: module.training for module in self.model.modules()}  # mixed, too
        self.model.eval()
        results: dict[str, list[torch.Tensor]] = {name: [] for name in want}
        try:
            with ExitStack() as stack:
                if mc is not None:
                    state = stack.enter_context(self.mc_dropout(mc.p, mc.seed, mc.passes))
                    for batch in self.batches(indices):
                        inputs = self.to_device(data.inputs(batch))
                        results["mc_probs"].append(self._mc_probs(inputs, mc.passes, state))
                    return results
                embeddings = (
                    stack.enter_context(capture_pooled(self.target, self.embedding_layer))
                    if "embedding" in want
                    else None
                )
                for batch in self.batches(indices):
                    output, predicted = self.forward(self.to_device(data.inputs(batch)))
                    if "uncertainty" in want:
                        results["uncertainty"].append(self.task.uncertainty(output).cpu())
                    if "probs" in want:
                        results["probs"].append(self.task.probabilities(output).cpu())
                    if "predicted_loss" in want:
                        results["predicted_loss"].append(predicted.float().cpu())
                    if embeddings is not None:
                        if not embeddings:
                            raise self._embedding_not_run("")
                        results["embedding"].append(embeddings[-1].cpu())
                        embeddings.clear()  # a layer run twice per pass keeps its last output
        finally:
            for module, training in modes.items():
                module.train(training)
        return results

    def _mc_probs(self, inputs: torch.Tensor, passes: int, state: dict) -> torch.Tensor:
        """``[passes, B, C]`` probabilities: one pass of ``passes`` masked copies of the
        embedding, or ``passes`` full passes where there is no embedding layer, where a dropout
        module runs before it, or where the layers after it do not take a batch of copies (a
        skip connection from before it); then the repeat is turned off for the rest of the
        block."""
        if state["copies"] > 1:
            try:
                probs = self.task.probabilities(self.forward(inputs)[0])
                return probs.view(passes, len(inputs), -1).cpu()
            except RuntimeError:
                state["copies"] = 1
        probs = torch.stack(
            [self.task.probabilities(self.forward(inputs)[0]) for _ in range(passes)]
        ).cpu()
        if not (state["dropout_modules"] or state["embedded"]):  # no dropout ran: BALD of 0s
            raise self._embedding_not_run(", so MC dropout had nothing to drop")
        return probs

    def _embedding_not_run(self, consequence: str) -> RuntimeError:
        """The one error for an embedding layer off the forward path, wherever it shows."""
        return RuntimeError(
            f"embedding layer {self.embedding_layer!r} did not run in the forward pass"
            f"{consequence}; choose a layer on its path"
        )

    @torch.no_grad()
    def predict(self, data: PoolData, indices: Sequence[int] | np.ndarray) -> list[Any]:
        """The model's label for each of ``data[indices]``, in the task's label form (a class
        index, keypoints, boxes): what an annotator sees as the model's guess."""
        was_training = self.model.training
        self.model.eval()
        guesses: list[Any] = []
        try:
            for batch in self.batches(indices):
                output, _ = self.forward(self.to_device(data.inputs(batch)))
                guesses.extend(self.task.predict_labels(output))
        finally:
            self.model.train(was_training)
        return guesses
