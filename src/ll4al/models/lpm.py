"""The loss prediction module (LPM) of Yoo & Kweon (2019), attached to any target network."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ll4al.models.features import first_tensor, global_pool, resolve_layer


class LearningLoss(nn.Module):
    """Wrap ``model`` and predict each sample's target loss from its intermediate features.

    Forward hooks on the named ``layers`` read the features, so the target network needs no
    change. Per level: global average pooling -> Linear(hidden) -> ReLU; the levels are
    concatenated -> Linear(1). Calling the wrapper returns ``(output, predicted_loss)``, where
    ``output`` is exactly what ``model`` returns and ``predicted_loss`` is ``[B]``.

    Feature sizes are inferred. Pass ``example_input`` (one batch) to infer them at once, so
    that every parameter exists before an optimiser is built; otherwise they are inferred on
    the first call.

    Set ``stop_gradient = True`` to detach the features from the target network, so the
    ranking loss stops shaping it (the paper does so from epoch 120 of 200).
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[str],
        hidden: int = 128,
        example_input: Any = None,
    ) -> None:
        super().__init__()
        if isinstance(layers, str) or not layers:
            raise ValueError("layers must be a non-empty list of layer names")
        self.model = model
        self.layers = list(layers)
        self.stop_gradient = False
        modules = [resolve_layer(model, name) for name in self.layers]
        self.heads = nn.ModuleList(
            nn.Sequential(nn.LazyLinear(hidden), nn.ReLU()) for _ in self.layers
        )
        self.out = nn.Linear(hidden * len(self.layers), 1)
        self._captured: dict[str, torch.Tensor] = {}
        self._handles = [
            module.register_forward_hook(self._make_hook(name))
            for name, module in zip(self.layers, modules, strict=True)
        ]
        if example_input is not None:
            self.materialize(example_input)

    def _make_hook(self, name: str):
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            self._captured[name] = first_tensor(output, name)

        return hook

    def materialize(self, example_input: Any) -> None:
        """Infer the feature sizes with one forward pass that changes no state of the model."""
        was_training = self.training
        self.eval()
        with torch.no_grad():
            self(example_input)
        self.train(was_training)

    def forward(self, *args: Any, **kwargs: Any) -> tuple[Any, torch.Tensor]:
        self._captured = {}
        output = self.model(*args, **kwargs)
        captured, self._captured = self._captured, {}
        missing = [name for name in self.layers if name not in captured]
        if missing:
            raise RuntimeError(
                f"Hooked layer(s) {missing} did not run in {type(self.model).__name__}.forward; "
                "choose layers on the path of the forward pass."
            )
        device_type = captured[self.layers[0]].device.type
        # The heads run in fp32 even under bf16 autocast: bf16 keeps 8 bits of mantissa, so
        # predicted losses would tie often and the top-K would be decided by candidate order.
        with torch.autocast(device_type=device_type, enabled=False):
            pooled = []
            for name, head in zip(self.layers, self.heads, strict=True):
                features = captured[name]
                if self.stop_gradient:
                    features = features.detach()
                pooled.append(head(global_pool(features).float()))
            predicted = self.out(torch.cat(pooled, dim=1)).squeeze(1)
        return output, predicted

    def remove_hooks(self) -> None:
        """Detach the module from the target network (the target keeps working unchanged)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
