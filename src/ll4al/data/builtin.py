"""The data sets ll4al ships loaders for: digits (bundled), CIFAR-10, face keypoints."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from ll4al.config import ConfigError
from ll4al.data.arrays import ArrayDataset, TaskData, split_by_group
from ll4al.data.imagefolder import channel_stats, load_image_folder_split
from ll4al.files import CorruptFileError

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


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


def load_cifar10(root: str | Path, download: bool = False, progress: bool = True) -> TaskData:
    """CIFAR-10 from an ImageFolder copy (``root/train``, ``root/test``) or torchvision's files.

    ``download=True`` lets torchvision fetch the official archive into ``root``.
    """
    root = Path(root).expanduser()
    if (root / "train").is_dir() and (root / "test").is_dir():
        x_train, y_train, classes = load_image_folder_split(root / "train", progress)
        x_test, y_test, test_classes = load_image_folder_split(root / "test", progress)
        if classes != test_classes:
            raise ConfigError(
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
# tests/tasks/test_keypoints.py checks this on the data.
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
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):  # a single .npy array
            raise ValueError("one array, not an .npz archive")
        with npz:
            missing = [key for key in ("x", "kp", "image_id") if key not in npz.files]
            if missing:
                raise KeyError(missing)
            x, kp, ids = npz["x"], npz["kp"], npz["image_id"]
    except KeyError as err:
        message = f"{path} lacks the array(s) {err.args[0]} (it needs x, kp and image_id)"
        raise CorruptFileError(message) from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise CorruptFileError(f"{path} is not a readable .npz file ({err})") from None
    if (
        x.shape[1:] != (*FACE_IMAGE_SIZE, 3)
        or x.dtype != np.uint8
        or kp.shape != (len(x), FACE_KEYPOINTS, 2)
        or ids.shape != (len(x),)
        or not len(x)
    ):
        raise CorruptFileError(
            f"{path}: expected x [N, 64, 64, 3] uint8, kp [N, 14, 2] and image_id [N] with "
            f"N > 0; got x {list(x.shape)} {x.dtype}, kp {list(kp.shape)}, "
            f"image_id {list(ids.shape)}"
        )
    train, test = split_by_group(ids, round(test_fraction * len(ids)), seed)
    images = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    mean, std = channel_stats(images[train])
    return TaskData(
        train=ArrayDataset(images[train], kp[train], tuple(mean), tuple(std), groups=ids[train]),
        test=ArrayDataset(images[test], kp[test], tuple(mean), tuple(std), groups=ids[test]),
        num_outputs=FACE_KEYPOINTS,
        in_channels=3,
    )
