from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ll4al import cli
from ll4al.data.arrays import ArrayDataset

from .hardening import demo_args

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


@pytest.fixture
def private_cache(tmp_path, monkeypatch) -> Path:
    """A cache folder of the test's own (``LL4AL_CACHE``), so decoded images and embeddings
    never leak between tests. Modules that want it for every test say
    ``pytestmark = pytest.mark.usefixtures("private_cache")``: not autouse here, because
    Hypothesis refuses function-scoped autouse fixtures on its tests."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("LL4AL_CACHE", str(cache))
    return cache


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


@pytest.fixture(scope="module")
def finished_demo(tmp_path_factory) -> Path:
    """A finished tiny demo (random and learning-loss-balanced, seed 0, 2 cycles: 4 rows), run once
    in-process single-threaded (as the killed subprocesses below run)."""
    out = tmp_path_factory.mktemp("demo") / "finished"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert cli.main(demo_args(out)) == 0
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture
def demo_copy(finished_demo, tmp_path) -> Path:
    out = tmp_path / "demo"
    shutil.copytree(finished_demo, out)
    return out
