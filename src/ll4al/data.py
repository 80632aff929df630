"""Image data held as one in-memory tensor, so batches are slices, not per-sample Python calls.

On a 2-core CPU a per-sample ``Dataset``/``DataLoader`` pipeline costs more than the small
networks we train; decoding once into a uint8 array and indexing it by batch removes that.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ll4al.files import atomic_path

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class ArrayDataset:
    """Images ``[N, C, H, W]`` (uint8 or float) and, where known, their hidden labels.

    ``targets`` may be ``None``: a pool whose labels nobody knows yet is served all the same;
    labels then come only from the oracle, through the pool. A label is a row of ``targets``:
    a class index, or e.g. ``[K, 2]`` keypoints. ``groups`` (one id per image, optional) marks
    images that must stay on the same side of a split, such as one face on two backgrounds.
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: np.ndarray | None,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        scale: float = 255.0,
        groups: np.ndarray | None = None,
    ) -> None:
        if images.dim() != 4:
            raise ValueError(f"images must be [N, C, H, W], got {tuple(images.shape)}")
        if targets is not None and len(targets) != len(images):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        if groups is not None and len(groups) != len(images):
            raise ValueError(f"{len(images)} images but {len(groups)} groups")
        self.images = images
        self.targets = None if targets is None else np.asarray(targets)
        self.groups = None if groups is None else np.asarray(groups)
        self._mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1) * scale
        self._std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1) * scale

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: np.ndarray) -> ArrayDataset:
        """The samples at ``indices`` as a data set of their own (same normalisation)."""
        index = torch.as_tensor(indices, dtype=torch.long)
        targets = None if self.targets is None else self.targets[index.numpy()]
        groups = None if self.groups is None else self.groups[index.numpy()]
        subset = ArrayDataset(self.images[index], targets, (0.0,), (1.0,), groups=groups)
        subset._mean, subset._std = self._mean, self._std
        return subset

    def inputs(self, indices: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Normalised float inputs of the samples at ``indices``."""
        batch = self.images[torch.as_tensor(indices, dtype=torch.long)]
        return (batch.float() - self._mean) / self._std


@dataclass
class TaskData:
    """The pool (train) and the test set of an experiment; ``num_outputs`` is what the model
    predicts per sample (classes, keypoints)."""

    train: ArrayDataset
    test: ArrayDataset
    num_outputs: int
    in_channels: int


def split_by_group(groups: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, held)`` ascending row indices: whole groups, in a seeded random order, are held
    out until at least ``count`` rows are, so rows of one group never straddle the split."""
    ids, sizes = np.unique(groups, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(ids))
    taken = int(np.searchsorted(np.cumsum(sizes[order]), count)) + 1
    held = np.isin(groups, ids[order[:taken]])
    return np.flatnonzero(~held), np.flatnonzero(held)


def hold_out(data: TaskData, count: int, seed: int = 0) -> TaskData:
    """Split ``count`` random pool samples off as the evaluation set (the test set is unused).

    For tuning a protocol: decisions made on this split never see the test set. Grouped
    samples are held out by whole groups (so at least ``count``).
    """
    if not 0 < count < len(data.train):
        raise ValueError(f"cannot hold out {count} of a pool of {len(data.train)} samples")
    groups = data.train.groups
    kept, held = split_by_group(
        np.arange(len(data.train)) if groups is None else groups, count, seed
    )
    if not len(kept):
        raise ValueError(f"holding out {count} samples by whole groups leaves no pool")
    return TaskData(
        train=data.train.subset(kept),
        test=data.train.subset(held),
        num_outputs=data.num_outputs,
        in_channels=data.in_channels,
    )


def load_digits(seed: int = 0, test_fraction: float = 0.3) -> TaskData:
    """scikit-learn's bundled 8x8 digits (1,797 images): the demo's data, needs no download."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32)).unsqueeze(1)
    idx_train, idx_test = train_test_split(
        np.arange(len(images)), test_size=test_fraction, random_state=seed, stratify=bunch.target
    )
    mean, std = (float(bunch.images.mean()),), (float(bunch.images.std()),)
    return TaskData(
        train=ArrayDataset(images[idx_train], bunch.target[idx_train], mean, std, scale=1.0),
        test=ArrayDataset(images[idx_test], bunch.target[idx_test], mean, std, scale=1.0),
        num_outputs=10,
        in_channels=1,
    )


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


def load_cifar10(root: str | Path, download: bool = False) -> TaskData:
    """CIFAR-10 from an ImageFolder copy (``root/train``, ``root/test``) or torchvision's files.

    ``download=True`` lets torchvision fetch the official archive into ``root``.
    """
    root = Path(root).expanduser()
    if (root / "train").is_dir() and (root / "test").is_dir():
        x_train, y_train, classes = load_image_folder_split(root / "train")
        x_test, y_test, test_classes = load_image_folder_split(root / "test")
        if classes != test_classes:
            raise ValueError(
                f"{root}/train and {root}/test have different class folders "
                f"({classes} vs {test_classes}); labels would not match"
            )
    else:
        from torchvision.datasets import CIFAR10

        if not root.exists() and not download:
            raise FileNotFoundError(
                f"CIFAR-10 data directory {root} does not exist; point data.root at an "
                "ImageFolder copy (train/, test/) or set data.download: true"
            )
        try:
            train = CIFAR10(str(root), train=True, download=download)
            test = CIFAR10(str(root), train=False, download=download)
        except RuntimeError as err:
            raise FileNotFoundError(
                f"No CIFAR-10 found in {root} (neither train/ and test/ image folders nor "
                f"torchvision's cifar-10-batches-py): {err}"
            ) from err
        x_train = torch.from_numpy(train.data).permute(0, 3, 1, 2).contiguous()
        x_test = torch.from_numpy(test.data).permute(0, 3, 1, 2).contiguous()
        y_train, y_test = np.asarray(train.targets), np.asarray(test.targets)
    return TaskData(
        train=ArrayDataset(x_train, y_train, CIFAR10_MEAN, CIFAR10_STD),
        test=ArrayDataset(x_test, y_test, CIFAR10_MEAN, CIFAR10_STD),
        num_outputs=10,
        in_channels=3,
    )


FACE_KEYPOINTS = 14
FACE_IMAGE_SIZE = (64, 64)
# Left/right keypoint pairs of face64.npz, found from the mean face of all 4,000 crops: mirrored
# about the image centre (x -> 63 - x), each point's nearest point is its partner, within
# 1.1 px for the eyebrows (0-3, 1-2) and eyes (4-9, 5-8, 6-7) and 1.8 px for the mouth corners
# (11-13); the nose (10) and lip centre (12) land on themselves (2.7 and 1.7 px).
# tests/test_keypoints.py checks this on the data.
FACE_FLIP_PAIRS = ((0, 3), (1, 2), (4, 9), (5, 8), (6, 7), (11, 13))


def load_face_keypoints(root: str | Path, test_fraction: float = 0.2, seed: int = 0) -> TaskData:
    """``root/face64.npz``: 4,000 64x64 face crops with 14 keypoints (x, y) in pixels.

    Each pose appears twice (simple and complex background) under one ``image_id``, so the test
    set takes a seeded ``test_fraction`` of the image ids, both rows of each: a split by row
    would put the same face in the pool and the test set. The ids go with the pool as
    ``groups``, so a validation hold-out keeps them together too. Normalisation: the pool's
    per-channel mean and std.
    """
    path = Path(root).expanduser() / "face64.npz"
    if not path.is_file():
        raise FileNotFoundError(f"face keypoint data {path} not found; point data.root at it")
    with np.load(path, allow_pickle=False) as npz:
        x, kp, ids = npz["x"], npz["kp"], npz["image_id"]
    if x.shape[1:] != (*FACE_IMAGE_SIZE, 3) or kp.shape[1:] != (FACE_KEYPOINTS, 2):
        raise ValueError(f"{path}: expected x [N, 64, 64, 3] and kp [N, 14, 2]")
    train, test = split_by_group(ids, round(test_fraction * len(ids)), seed)
    images = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    # per-channel histograms: exact statistics without a float copy of the images
    counts = np.stack([np.bincount(x[train, ..., c].ravel(), minlength=256) for c in range(3)])
    values = np.arange(256) / 255.0
    mean = counts @ values / counts.sum(axis=1)
    std = np.sqrt(counts @ values**2 / counts.sum(axis=1) - mean**2)
    return TaskData(
        train=ArrayDataset(images[train], kp[train], tuple(mean), tuple(std), groups=ids[train]),
        test=ArrayDataset(images[test], kp[test], tuple(mean), tuple(std), groups=ids[test]),
        num_outputs=FACE_KEYPOINTS,
        in_channels=3,
    )


def random_crop_flip(
    batch: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Pad-and-random-crop plus horizontal flip on a whole batch ``[B, C, H, W]`` at once.

    The batch is already normalised, so zero padding is padding with the mean colour.
    """
    b, c, h, w = batch.shape
    device = batch.device
    padded = torch.nn.functional.pad(batch, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(device)
    rows = (dy[:, None] + torch.arange(h, device=device))[:, :, None]  # [B, H, 1]
    cols = (dx[:, None] + torch.arange(w, device=device))[:, None, :]  # [B, 1, W]
    cropped = padded[torch.arange(b, device=device)[:, None, None], :, rows, cols]  # [B,H,W,C]
    cropped = cropped.permute(0, 3, 1, 2)
    flip = (torch.rand(b, generator=generator) < 0.5).to(device)
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped).contiguous()
