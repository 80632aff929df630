from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ll4al.data.arrays import ArrayDataset

# The shared data sit beside the repository (../shared/data), wherever pytest is started from;
# LL4AL_DATA overrides. Set for the whole session, so configs and subprocesses find it too.
SHARED_DATA = Path(
    os.environ.get("LL4AL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
).resolve()
os.environ["LL4AL_DATA"] = str(SHARED_DATA)


@pytest.fixture
def shared_data() -> Path:
    """The shared data; a clone without them skips these tests, but CI (which sets
    LL4AL_REQUIRE_DATA) fails instead, so they can never be skipped there unnoticed."""
    if not SHARED_DATA.is_dir():
        message = f"shared test data not found at {SHARED_DATA} (set LL4AL_DATA)"
        if os.environ.get("LL4AL_REQUIRE_DATA"):
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DATA


def make_images(n: int = 64, classes: int = 4, seed: int = 0) -> ArrayDataset:
    """Tiny 3x8x8 uint8 images whose class shows in their mean brightness (learnable)."""
    gen = torch.Generator().manual_seed(seed)
    targets = np.arange(n) % classes
    base = torch.as_tensor(targets * (200 // classes), dtype=torch.float32).view(n, 1, 1, 1)
    noise = torch.randint(0, 40, (n, 3, 8, 8), generator=gen).float()
    images = (base + noise).clamp(0, 255).to(torch.uint8)
    return ArrayDataset(images, targets, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


@pytest.fixture
def tiny_images() -> ArrayDataset:
    return make_images()
