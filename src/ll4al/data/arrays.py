"""Image data held as one in-memory tensor, so batches are slices, not per-sample Python calls.

On a 2-core CPU a per-sample ``Dataset``/``DataLoader`` pipeline costs more than the small
networks we train; decoding once into a uint8 array and indexing it by batch removes that.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch


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
        return self.with_images(self.images[index], targets, groups)

    def with_images(
        self,
        images: torch.Tensor,
        targets: np.ndarray | None = None,
        groups: np.ndarray | None = None,
    ) -> ArrayDataset:
        """Other images normalised as these are (an evaluation set by the pool's statistics)."""
        other = ArrayDataset(images, targets, (0.0,), (1.0,), groups=groups)
        other._mean, other._std = self._mean, self._std
        return other

    def content_digest(self) -> str:
        """sha256 of the pixels, their shape and normalisation: what a network sees of these
        images, for caches keyed by content (``ll4al.encoders.cache``)."""
        digest = hashlib.sha256(f"{tuple(self.images.shape)}:{self.images.dtype}".encode())
        for tensor in (self._mean, self._std, self.images):
            digest.update(tensor.contiguous().numpy().tobytes())
        return digest.hexdigest()

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
