"""One intensity mapping per project: how stored values (16-bit, float, DICOM) become the
8-bit image that is trained on, scored, shown on the labeling page and exported.

High-bit images are read as floats, unclipped (DICOM after its modality LUT: Hounsfield
units for CT), then mapped to [0, 1] by the project's ``intensity`` and rounded to 8 bits
(so a value is off by at most half a grey level, 0.5 / 255, from the exact mapping):

- ``auto``: a DICOM file's own window (``file``); other high-bit images by ``percentile``.
- ``file``: a DICOM file's VOI LUT, else its first window, else the full range of its
  stored bits; a 16-bit PNG or TIFF: 0 to 65535; a float TIFF: 0 to 1.
- ``percentile``: each image's own 0.5th to 99.5th percentile.
- a CT preset (``lung``, ``mediastinum``, ``bone``, ``brain``, ``abdomen``): a fixed
  window in the stored units (after rescale: HU for CT), the same for every image.

MONOCHROME1 DICOM images are inverted after the mapping. 8-bit images (JPEG, 8-bit PNG,
BMP) are already display images and are left as they are under every mapping.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ll4al.config import ConfigError
from ll4al.data.dicom import file_window, is_dicom, is_monochrome1, read_frame, split_frame
from ll4al.data.dicom import window as linear_window
from ll4al.files import CorruptFileError

#: CT windows, ``(center, width)`` in HU.
PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "abdomen": (40.0, 400.0),
}
MAPPINGS = ("auto", "file", "percentile", *PRESETS)
PERCENTILES = (0.5, 99.5)
HIGH_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
#: Modes a browser shows as they are (others are converted to RGB).
_DISPLAY_MODES = ("1", "L", "LA", "P", "RGB", "RGBA")


def check_mapping(name: str) -> None:
    if name not in MAPPINGS:
        raise ConfigError(f"unknown intensity {name!r}; choose from {', '.join(MAPPINGS)}")


def map_values(values: np.ndarray, mapping: str, natural: tuple[float, float] | None) -> np.ndarray:
    """Stored values to [0, 1] by a preset, ``percentile`` or ``file``; ``natural``: the
    range ``file`` means for an image without a window of its own."""
    if mapping in PRESETS:
        return linear_window(values, *PRESETS[mapping])
    if mapping == "percentile" or natural is None:
        low, high = np.percentile(values, PERCENTILES)
    else:
        low, high = natural
    return np.clip((values - low) / (high - low or 1.0), 0.0, 1.0)


def to_uint8(unit: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(unit) * 255.0).astype(np.uint8)


def dicom_unit(path: Path, frame: int | None, mapping: str) -> np.ndarray:
    """A DICOM frame mapped to [0, 1] (colour frames by their stored bit depth)."""
    values, ds = read_frame(path, frame)
    if values.ndim == 3:
        return np.clip(values / (2 ** int(ds.get("BitsStored", 8)) - 1), 0.0, 1.0)
    if mapping in ("auto", "file"):
        unit = file_window(ds, values)
    else:
        unit = map_values(values, mapping, None)
    return 1.0 - unit if is_monochrome1(ds) else unit


def _natural_range(mode: str) -> tuple[float, float]:
    return (0.0, 1.0) if mode == "F" else (0.0, 65535.0)


def mapped_image(path: Path, mapping: str, mode: str | None = None):
    """The image as it is trained on and shown: an 8-bit PIL image in ``mode`` (``L`` or
    ``RGB``; None: as the mapping gives it, in a mode browsers show). ``path`` may name a
    frame (``scan.dcm#3``)."""
    from PIL import Image, UnidentifiedImageError

    file, frame = split_frame(path)
    file = Path(file)
    if is_dicom(file):
        image = Image.fromarray(to_uint8(dicom_unit(file, frame, mapping)))
        return image if mode is None else image.convert(mode)
    try:
        opened = Image.open(file)
    except (UnidentifiedImageError, OSError) as err:
        raise CorruptFileError(f"{file}: not a readable image ({err})") from None
    with opened as image:
        try:
            if image.mode in HIGH_BIT_MODES:
                values = np.asarray(image, dtype=np.float64)
                natural = None if mapping == "auto" else _natural_range(image.mode)
                unit = map_values(values, mapping, natural)
                image = Image.fromarray(to_uint8(unit))
            if mode is not None:
                return image.convert(mode)
            return image.copy() if image.mode in _DISPLAY_MODES else image.convert("RGB")
        except OSError as err:  # a truncated file fails only once its pixels are read
            raise CorruptFileError(f"{file}: not a readable image ({err})") from None


def needs_mapping(path: Path) -> bool:
    """Whether a file's pixels differ from what is shown (DICOM, 16-bit, float): such a
    file is served and exported as the mapped PNG, never as itself."""
    from PIL import Image

    file, _ = split_frame(path)
    if is_dicom(file):
        return True
    try:
        with Image.open(file) as image:
            return image.mode in HIGH_BIT_MODES
    except OSError:
        return False


def png_bytes(image) -> io.BytesIO:
    out = io.BytesIO()
    image.save(out, "PNG")
    out.seek(0)
    return out
