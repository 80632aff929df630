"""Reading intermediate features of any network by layer name, without changing the network.

Both the loss prediction module and feature-based strategies (core-set) need a model's
intermediate activations; forward hooks give them to us for any ``nn.Module``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` in ``model.named_modules()``, or a ValueError naming it."""
    modules = dict(model.named_modules())
    if name in modules and name != "":
        return modules[name]
    close = difflib.get_close_matches(name, [n for n in modules if n], n=5, cutoff=0.5)
    hint = f" Close matches: {', '.join(close)}." if close else ""
    raise ValueError(
        f"Unknown layer {name!r} in {type(model).__name__}.{hint} "
        "Layer names are those of model.named_modules()."
    )


def first_tensor(output: object, layer: str) -> torch.Tensor:
    """The tensor a layer produced: itself, or the first element of a tuple/list output."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(
        f"Layer {layer!r} returned {type(output).__name__}, not a tensor; "
        "hook one of its submodules that returns a tensor instead."
    )


_CHUNK_ELEMENTS = 2**20  # per chunk of ``spatial_mean``: a 4 MiB fp32 buffer


def spatial_mean(features: torch.Tensor) -> torch.Tensor:
    """``features.mean(dim=(2, 3))``, bitwise, taken in batch chunks where that is faster.

    Why: the CPU mean of a bf16 (or fp16) map first copies the whole map to fp32. For the
    32x32 level of ResNet-18 at batch 512 that is a 32 MiB buffer, which glibc often maps
    afresh (page faults and all) on every call: the largest part of the LPM's own work in a
    bf16 pass (~20-30 ms against ~4 ms in chunks, one thread). Chunks of ~1M elements reuse
    a small buffer. Each sample's mean is the same kernel over the same elements in the same
    order, so the result does not change; elsewhere (fp32, GPUs: no copy) it is taken whole.
    """
    dims = (2, 3)
    if features.device.type != "cpu" or features.dtype not in (torch.bfloat16, torch.float16):
        return features.mean(dim=dims)
    per_chunk = max(1, _CHUNK_ELEMENTS // max(1, features.shape[1:].numel()))
    if per_chunk >= len(features):
        return features.mean(dim=dims)
    return torch.cat([chunk.mean(dim=dims) for chunk in features.split(per_chunk)])


class _SpatialMean(torch.autograd.Function):
    """Mean over H and W whose gradient keeps the input's memory format.

    Autograd's own pooling backward returns an NCHW gradient even for channels-last features;
    added to the target network's channels-last gradient at the hooked layer, the mixed layouts
    made every following backward op slow (training with the LPM ~20% slower in bf16).
    """

    @staticmethod
    def forward(ctx, features: torch.Tensor) -> torch.Tensor:
        ctx.shape = features.shape
        ctx.channels_last = features.is_contiguous(memory_format=torch.channels_last)
        return spatial_mean(features)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        _, _, h, w = ctx.shape
        expanded = (grad / (h * w))[:, :, None, None].expand(ctx.shape)
        layout = torch.channels_last if ctx.channels_last else torch.contiguous_format
        return expanded.contiguous(memory_format=layout)


def global_pool(features: torch.Tensor) -> torch.Tensor:
    """Pool a feature map to one vector per sample.

    ``[B, C, H, W]`` conv maps are averaged over H and W, ``[B, T, C]`` token maps over T
    (batch-first), ``[B, C]`` vectors are kept as they are.
    """
    if features.dim() == 4:
        return _SpatialMean.apply(features)
    if features.dim() == 3:
        return features.mean(dim=1)
    if features.dim() == 2:
        return features
    raise ValueError(f"cannot pool features of shape {tuple(features.shape)}; expected 2-4 dims")


@contextmanager
def capture_pooled(model: nn.Module, layer: str) -> Iterator[list[torch.Tensor]]:
    """Collect the pooled output of ``layer`` for every forward pass inside the block."""
    module = resolve_layer(model, layer)
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        captured.append(global_pool(first_tensor(output, layer)).detach().float())

    handle = module.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()
