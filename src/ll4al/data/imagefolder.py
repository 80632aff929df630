"""Folders of image files decoded once into a uint8 array and cached, so later runs skip the
decoding: CIFAR-10's JPEG copy, a user's labeled class folders, a labeling project's pool.

One ordering everywhere (``list_images``: by path components, which is torchvision's
ImageFolder order for class folders), so a benchmark on a folder and a labeling project on the
same folder see the same samples in the same rows.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ll4al.config import ConfigError, DataSettings
from ll4al.data.arrays import ArrayDataset, TaskData
from ll4al.data.dicom import DICOM_EXTENSIONS, dicom_info, expand_frames, is_dicom, split_frame
from ll4al.data.intensity import mapped_image
from ll4al.files import CorruptFileError, atomic_path, read_json, write_json_atomic

IMAGE_EXTENSIONS = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", *DICOM_EXTENSIONS)
GRAYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "F")
_CACHE_VERSION = "3"  # 3: high-bit images and DICOM mapped by the project's intensity


def cache_dir() -> Path:
    """Where decoded data sets are cached (``$LL4AL_CACHE``, else ``~/.cache/ll4al``)."""
    return Path(os.environ.get("LL4AL_CACHE", Path.home() / ".cache" / "ll4al"))


def list_images(root: Path) -> list[str]:
    """Relative POSIX paths of every image under ``root`` (recursively; hidden files and
    folders skipped), ordered by path components: ``a/x.png`` before ``a-b/y.png``. A
    multi-frame DICOM file is one entry per frame (``scan.dcm#1``, ...)."""
    root = Path(root)
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file():
            found.append(rel.as_posix())
    return expand_frames(root, sorted(found, key=lambda p: p.split("/")))


def class_folders(root: Path) -> tuple[list[str], list[str]]:
    """``(paths, class of each)`` for the ImageFolder layout ``root/<class>/**/<image>``."""
    paths = [p for p in list_images(root) if "/" in p]
    if not paths:
        raise FileNotFoundError(f"no images in class folders under {root} (root/<class>/<file>)")
    return paths, [p.split("/", 1)[0] for p in paths]


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError) as err:
        raise CorruptFileError(f"{path}: not a readable image ({err})") from None
    except Image.DecompressionBombError as err:  # a header claiming billions of pixels
        claim = str(err).split(",")[0]
        raise CorruptFileError(f"{path}: {claim}; remove or shrink the image") from None


def image_channels(root: Path, paths: Sequence[str]) -> int:
    """1 if every image is grayscale, else 3 (reads the headers only)."""
    for rel in paths:
        if is_dicom(split_frame(rel)[0]):
            if dicom_info(Path(root) / split_frame(rel)[0]).channels != 1:
                return 3
            continue
        with _open(Path(root) / rel) as image:
            if image.mode not in GRAYSCALE_MODES:
                return 3
    return 1


def image_size_of(path: Path) -> tuple[int, int]:
    """``(width, height)`` of an image file (or a DICOM frame), from its header."""
    file = Path(split_frame(path)[0])
    if is_dicom(file):
        info = dicom_info(file)
        return info.width, info.height
    with _open(path) as image:
        return image.size


def _decode_files(
    root: Path,
    paths: Sequence[str],
    size: int | None,
    channels: int,
    progress: bool,
    intensity: str,
) -> np.ndarray:
    from tqdm.auto import tqdm

    mode = "L" if channels == 1 else "RGB"
    images, shape = [], None
    bar = tqdm(
        paths, desc=f"decoding {Path(root).name}", unit="img", leave=False, disable=not progress
    )
    for rel in bar:
        image = mapped_image(Path(root) / rel, intensity, mode)
        if size is not None and image.size != (size, size):
            image = image.resize((size, size), resample=2)  # bilinear
        array = np.asarray(image)
        array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
        if shape is None:
            shape = array.shape
        elif array.shape != shape:
            raise _differ_in_size(root, paths[0], shape, rel, array.shape)
        images.append(array)
    return np.stack(images)


def _differ_in_size(
    root: Path, first: str, first_shape: Sequence[int], other: str, other_shape: Sequence[int]
) -> ConfigError:
    """The error for two images of one folder at different sizes (shapes ``[C, H, W]``)."""
    return ConfigError(
        f"images under {root} differ in size ({first}: {first_shape[2]}x{first_shape[1]}, "
        f"{other}: {other_shape[2]}x{other_shape[1]}); set an image size to resize them"
    )


def decode_images(
    root: Path,
    paths: Sequence[str],
    size: int | None = None,
    channels: int = 3,
    progress: bool = True,
    intensity: str = "auto",
) -> torch.Tensor:
    """``[N, channels, H, W]`` uint8 pixels of ``root/paths``, resized to ``size`` squared
    (stretched, as SSD and small classifiers take them) unless ``size`` is None; high-bit
    images and DICOM mapped to 8 bits by ``intensity`` (``ll4al.data.intensity``).

    Cached under ``cache_dir()``, keyed by each file's path, byte size and modification time
    (nanoseconds): a file replaced by other bytes, even of the same size, gets a new mtime and
    so a new key, without reading every file on each run. A cache file that cannot be read is
    rebuilt with a warning.

    Incremental: when the key is new (images added to a project, some replaced), the rows of
    the folder's earlier cache under the same settings whose file is unchanged are reused and
    only the other files are decoded; then the older caches the new one covers are removed
    (``_remove_superseded``). Why: decoding is the slow part (a 16-bit X-ray or a DICOM file
    takes tens of milliseconds), and a project that adds a hundred images to 20,000 should
    not decode the 20,000 again.
    """
    root = Path(root)
    if not paths:
        raise FileNotFoundError(f"no images found under {root}")
    settings = f"{_CACHE_VERSION}:{size}:{channels}:{intensity}"
    entries = []
    for rel in paths:
        stat = (root / split_frame(rel)[0]).stat()
        entries.append(f"{rel}:{stat.st_size}:{stat.st_mtime_ns}")
    digest = hashlib.sha1(settings.encode())
    for entry in entries:
        digest.update(f"\n{entry}".encode())
    folder_key = hashlib.sha1(f"{root.resolve()}:{settings}".encode()).hexdigest()[:8]
    family = f"images-{root.name}-{folder_key}"
    cached = cache_dir() / f"{family}-{digest.hexdigest()[:16]}.npy"
    if cached.exists():
        try:
            return torch.from_numpy(np.load(cached, allow_pickle=False))
        except (OSError, ValueError, EOFError) as err:
            message = f"decoded-image cache {cached} is unreadable ({err}); rebuilding it"
            warnings.warn(message, stacklevel=2)
    earlier = _family_indexes(family)
    base = _reusable_cache(earlier, entries)
    if base is None:
        x = _decode_files(root, paths, size, channels, progress, intensity)
    else:
        x = _decode_changed(root, paths, entries, base, size, channels, progress, intensity)
    with atomic_path(cached) as tmp:
        np.save(tmp, x)
    write_json_atomic(cached.with_suffix(".json"), {"entries": entries})
    _remove_superseded(earlier, cached, paths)
    return torch.from_numpy(x)


def _family_indexes(family: str) -> dict[Path, list[str]]:
    """The file list of each earlier cache of this folder and settings, by its index path;
    an index that cannot be read is left out (its cache is then neither reused nor removed)."""
    indexes = {}
    for index in cache_dir().glob(f"{family}-*.json"):
        try:
            entries = read_json(index)["entries"]
        except (OSError, KeyError, TypeError, CorruptFileError):
            continue
        if isinstance(entries, list) and all(isinstance(e, str) for e in entries):
            indexes[index] = entries
    return indexes


def _reusable_cache(
    earlier: dict[Path, list[str]], entries: list[str]
) -> tuple[np.ndarray, dict[str, int]] | None:
    """The earlier cache sharing the most unchanged files with ``entries``: its pixels
    (memory-mapped) and the row of each of its files; None if there is none, or none whose
    pixels can be read (it is then simply not reused)."""
    wanted, best, best_overlap = set(entries), None, 0
    for index, rows in earlier.items():
        overlap = len(wanted.intersection(rows))
        if overlap <= best_overlap:
            continue
        try:
            pixels = np.load(index.with_suffix(".npy"), mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError):
            continue
        if len(rows) == len(pixels) and pixels.ndim == 4:
            best, best_overlap = (pixels, {entry: row for row, entry in enumerate(rows)}), overlap
    return best


def _remove_superseded(earlier: dict[Path, list[str]], kept: Path, paths: Sequence[str]) -> None:
    """Delete the earlier caches whose every image is among ``paths`` (at this or an older
    version): the new cache ``kept`` holds all they did. A cache of images the new one lacks
    (a second project on part of the same folder) is left for its own user."""
    current = set(paths)
    for index, entries in earlier.items():
        if index.stem != kept.stem and {e.rsplit(":", 2)[0] for e in entries} <= current:
            index.with_suffix(".npy").unlink(missing_ok=True)
            index.unlink(missing_ok=True)


def _decode_changed(
    root: Path,
    paths: Sequence[str],
    entries: list[str],
    base: tuple[np.ndarray, dict[str, int]],
    size: int | None,
    channels: int,
    progress: bool,
    intensity: str,
) -> np.ndarray:
    """``paths`` decoded, taking the rows of unchanged files from ``base`` (at least one)."""
    pixels, rows = base
    kept = [n for n, entry in enumerate(entries) if entry in rows]
    fresh = [n for n, entry in enumerate(entries) if entry not in rows]
    x = np.empty((len(entries), *pixels.shape[1:]), dtype=pixels.dtype)
    x[kept] = pixels[[rows[entries[n]] for n in kept]]
    if fresh:
        decoded = _decode_files(
            root, [paths[n] for n in fresh], size, channels, progress, intensity
        )
        if decoded.shape[1:] != pixels.shape[1:]:
            raise _differ_in_size(
                root, paths[kept[0]], pixels.shape[1:], paths[fresh[0]], decoded.shape[1:]
            )
        x[fresh] = decoded
    return x


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images ``[N, C, H, W]`` on the [0, 1] scale, exact,
    from histograms (no float copy of the images)."""
    array = images.numpy()
    counts = np.stack(
        [np.bincount(array[:, c].ravel(), minlength=256) for c in range(array.shape[1])]
    )
    values = np.arange(256) / 255.0
    mean = counts @ values / counts.sum(axis=1)
    std = np.sqrt(np.maximum(counts @ values**2 / counts.sum(axis=1) - mean**2, 0.0))
    return tuple(mean), tuple(std)


def load_image_folder_split(
    root: Path, progress: bool = True
) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """Decode an ImageFolder tree (``root/<class>/<image>``) at its native size, in colour:
    ``(images, targets, classes)`` with classes in sorted order."""
    paths, names = class_folders(root)
    classes = sorted(set(names))
    targets = np.asarray([classes.index(n) for n in names], dtype=np.int64)
    return decode_images(root, paths, None, 3, progress), targets, classes


def load_imagefolder(settings: DataSettings, progress: bool = True) -> TaskData:
    """``data.name: imagefolder``: ``root/train/<class>/*`` is the pool, ``root/test/<class>/*``
    the test set; any class names, any image size (resized to ``data.image_size``), grayscale
    or colour (``data.channels``, by default 1 if every image is grayscale, else 3).
    Normalised by the pool's per-channel mean and std."""
    root = settings.resolved_root()
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise FileNotFoundError(
                f"{root / split} not found: an imagefolder data set has train/<class>/ and "
                "test/<class>/ folders (point data.root at their parent)"
            )
    train_paths, train_names = class_folders(root / "train")
    test_paths, test_names = class_folders(root / "test")
    classes = sorted(set(train_names))
    unknown = sorted(set(test_names) - set(classes))
    if unknown:
        raise ConfigError(f"{root / 'test'} has class folders the pool lacks: {unknown}")
    channels = settings.channels or max(
        image_channels(root / "train", train_paths), image_channels(root / "test", test_paths)
    )
    size = settings.image_size
    x_train = decode_images(root / "train", train_paths, size, channels, progress)
    x_test = decode_images(root / "test", test_paths, size, channels, progress)
    if x_train.shape[2:] != x_test.shape[2:]:
        raise ConfigError(
            f"train and test images differ in size ({tuple(x_train.shape[2:])} vs "
            f"{tuple(x_test.shape[2:])}); set data.image_size"
        )
    mean, std = channel_stats(x_train)

    def targets(names: list[str]) -> np.ndarray:
        return np.asarray([classes.index(n) for n in names], dtype=np.int64)

    return TaskData(
        train=ArrayDataset(x_train, targets(train_names), mean, std),
        test=ArrayDataset(x_test, targets(test_names), mean, std),
        num_outputs=len(classes),
        in_channels=channels,
    )
