"""Device and numeric precision: CUDA when present, bf16 where the hardware runs it fast."""

from __future__ import annotations

import contextlib
from functools import cache
from pathlib import Path

import torch


def select_device(name: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else the CPU; anything else is used as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@cache
def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"`` means bf16 on GPUs and CPUs with native bf16 units, fp32 elsewhere.

    On a CPU with avx512_bf16, bf16 autocast with channels-last trains ResNet-18 about twice
    as fast as fp32; on a CPU without it, bf16 is emulated and slower.
    """
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        with torch.cuda.device(device):  # emulated bf16 (pre-Ampere GPUs) is slower than fp32
            native = torch.cuda.is_bf16_supported(including_emulation=False)
        return "bf16" if native else "fp32"
    return "bf16" if device.type == "cpu" and _cpu_has_bf16() else "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context for ``precision`` (a no-op for fp32)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
