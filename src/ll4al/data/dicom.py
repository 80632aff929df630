"""DICOM files as samples: one sample per frame, the modality LUT (rescale slope and
intercept) applied, the file's own window or VOI LUT kept for display, and the patient, study
and series each sample belongs to.

A multi-frame file is one sample per frame, with id ``<file>#<n>`` (``n`` from 1, as DICOM
numbers frames); a single-frame file's id is its path. pydicom is imported here only, so a
folder without DICOM files never needs it. Compressed transfer syntaxes need the decoders of
``pip install "ll4al[dicom]"``; a syntax that no installed decoder reads is a one-line error
naming the file and the syntax.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ll4al.files import CorruptFileError

DICOM_EXTENSIONS = (".dcm", ".dicom")
_FRAME = re.compile(r"^(?P<file>.+\.(?:dcm|dicom))#(?P<frame>[1-9][0-9]*)$", re.IGNORECASE)


class UnsupportedDicomError(CorruptFileError):
    """A DICOM file whose pixels no installed decoder reads (its transfer syntax)."""


@dataclass(frozen=True)
class DicomInfo:
    """What the header says, read once per file (no pixels)."""

    frames: int
    width: int
    height: int
    channels: int
    patient: str
    study: str
    series: str


def is_dicom(path: str | Path) -> bool:
    return Path(path).suffix.lower() in DICOM_EXTENSIONS


def split_frame(sample: str | Path) -> tuple[str, int | None]:
    """``("a/scan.dcm", 3)`` for ``"a/scan.dcm#3"``; ``(sample, None)`` for a whole file."""
    text = str(sample) if isinstance(sample, str) else Path(sample).as_posix()
    match = _FRAME.match(text)
    if match is None:
        return text, None
    return match["file"], int(match["frame"])


def _read(path: Path, pixels: bool):
    try:
        import pydicom
    except ModuleNotFoundError:
        raise CorruptFileError(
            f"{path}: a DICOM file, and pydicom is not installed (pip install 'll4al[dicom]')"
        ) from None
    try:
        return pydicom.dcmread(path, stop_before_pixels=not pixels)
    except (pydicom.errors.InvalidDicomError, OSError, ValueError, EOFError) as err:
        raise CorruptFileError(f"{path}: not a readable DICOM file ({err})") from None


@functools.lru_cache(maxsize=4096)
def _info(path: str, _mtime_ns: int) -> DicomInfo:
    ds = _read(Path(path), pixels=False)
    if "Rows" not in ds or "Columns" not in ds:
        raise CorruptFileError(f"{path}: a DICOM file without an image (no Rows/Columns)")
    return DicomInfo(
        frames=int(ds.get("NumberOfFrames", 1) or 1),
        width=int(ds.Columns),
        height=int(ds.Rows),
        channels=int(ds.get("SamplesPerPixel", 1)),
        patient=str(ds.get("PatientID", "")),
        study=str(ds.get("StudyInstanceUID", "")),
        series=str(ds.get("SeriesInstanceUID", "")),
    )


def dicom_info(path: str | Path) -> DicomInfo:
    """The header of a DICOM file (cached while the file is unchanged)."""
    path = Path(path)
    return _info(str(path), path.stat().st_mtime_ns)


def expand_frames(root: Path, paths: list[str]) -> list[str]:
    """Sample ids for image paths: each multi-frame DICOM file becomes one id per frame."""
    out = []
    for rel in paths:
        frames = dicom_info(Path(root) / rel).frames if is_dicom(rel) else 1
        out.extend([rel] if frames == 1 else [f"{rel}#{n}" for n in range(1, frames + 1)])
    return out


def dicom_groups(root: Path, samples: list[str]) -> list[tuple[str, str, str, str]]:
    """``(sample, patient, study, series)`` for each DICOM sample among ``samples``."""
    rows = []
    for sample in samples:
        file = split_frame(sample)[0]
        if is_dicom(file):
            info = dicom_info(Path(root) / file)
            rows.append((sample, info.patient, info.study, info.series))
    return rows


def folder_patients(root: Path) -> set[str]:
    """The PatientIDs of the DICOM files under ``root`` (empty ones left out)."""
    found = {dicom_info(p).patient for p in Path(root).rglob("*") if is_dicom(p) and p.is_file()}
    return found - {""}


def read_frame(path: Path, frame: int | None):
    """``(values, dataset)``: a frame's pixels after the modality LUT (rescale slope and
    intercept, or the file's modality LUT) as floats, unclipped, and the dataset (for its
    window). A colour frame comes back as stored (``[H, W, 3]``, RGB)."""
    from pydicom.pixels import apply_modality_lut, pixel_array

    ds = _read(path, pixels=True)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    index = 0 if frame is None else frame - 1
    if not 0 <= index < frames:
        raise CorruptFileError(f"{path}: no frame {frame} (the file has {frames})")
    try:
        array = pixel_array(ds, index=index if frames > 1 else None)
    except (NotImplementedError, RuntimeError):
        syntax = ds.file_meta.get("TransferSyntaxUID", "?")
        name = getattr(syntax, "name", str(syntax))
        raise UnsupportedDicomError(
            f"{path}: no installed decoder reads its transfer syntax {name} ({syntax}); "
            "see README: DICOM for the decoders (pip install 'll4al[dicom]')"
        ) from None
    except (ValueError, EOFError) as err:  # truncated or inconsistent pixel data
        raise CorruptFileError(f"{path}: unreadable pixel data ({err})") from None
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        return array.astype(np.float64), ds
    return np.asarray(apply_modality_lut(array, ds), dtype=np.float64), ds


def file_window(ds, values: np.ndarray) -> np.ndarray:
    """The file's own display mapping to [0, 1]: its VOI LUT if it has one, else its first
    window (DICOM's linear function, PS3.3 C.11.2.1.2.1), else the full range its stored
    bits can hold after the modality LUT."""
    if "VOILUTSequence" in ds:
        from pydicom.pixels import apply_voi_lut

        item = ds.VOILUTSequence[0]
        bits = int(item.LUTDescriptor[2])
        indices = np.rint(values).astype(np.int64)  # a LUT is indexed by whole values
        return np.clip(apply_voi_lut(indices, ds, prefer_lut=True) / (2**bits - 1), 0.0, 1.0)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        return window(values, _first(ds.WindowCenter), _first(ds.WindowWidth))
    if "ModalityLUTSequence" in ds:
        high = 2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1
        return np.clip(values / high, 0.0, 1.0)
    bits = int(ds.get("BitsStored", 8))
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    slope, intercept = float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))
    ends = sorted((low * slope + intercept, high * slope + intercept))
    return np.clip((values - ends[0]) / (ends[1] - ends[0] or 1.0), 0.0, 1.0)


def _first(value) -> float:
    """A window value that may be multi-valued (several windows): the first."""
    try:
        return float(value[0])
    except TypeError:
        return float(value)


def window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM's linear window (PS3.3 C.11.2.1.2.1) to [0, 1]: below ``c - 0.5 - (w-1)/2``
    black, above ``c - 0.5 + (w-1)/2`` white, linear in between."""
    width = max(float(width), 1.0)
    scaled = (values - (center - 0.5)) / max(width - 1.0, 1e-12) + 0.5
    return np.clip(scaled, 0.0, 1.0)


def is_monochrome1(ds) -> bool:
    """MONOCHROME1: low values are white, so the displayed image is inverted."""
    return str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1"
