"""Image folders decoded once into a uint8 array and cached, so later runs skip the decoding."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from ll4al.files import atomic_path


def cache_dir() -> Path:
    """Where decoded data sets are cached (``$LL4AL_CACHE``, else ``~/.cache/ll4al``)."""
    return Path(os.environ.get("LL4AL_CACHE", Path.home() / ".cache" / "ll4al"))


def _decode_image_folder(root: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from PIL import Image
    from torchvision.datasets import ImageFolder
    from tqdm import tqdm

    folder = ImageFolder(str(root))
    if not folder.samples:
        raise ValueError(f"No images found under {root}")
    images = []
    for path, _ in tqdm(folder.samples, desc=f"decoding {root.name}", unit="img", leave=False):
        with Image.open(path) as image:
            images.append(np.asarray(image.convert("RGB")).transpose(2, 0, 1))
    return np.stack(images), np.asarray(folder.targets, dtype=np.int64), folder.classes


def load_image_folder_split(root: Path) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """Decode an ImageFolder tree once and cache it as a uint8 array keyed by its file list."""
    files = sorted(str(p.relative_to(root)) + f":{p.stat().st_size}" for p in root.rglob("*.*"))
    key = hashlib.sha1("\n".join(files).encode()).hexdigest()[:16]
    cached = cache_dir() / f"imagefolder-{root.name}-{key}.npz"
    if cached.exists():
        with np.load(cached, allow_pickle=False) as npz:
            return torch.from_numpy(npz["x"]), npz["y"], list(npz["classes"])
    x, y, classes = _decode_image_folder(root)
    with atomic_path(cached) as tmp:
        np.savez(tmp, x=x, y=y, classes=np.asarray(classes))
    return torch.from_numpy(x), y, classes
