"""DICOM files read as pydicom reads them: rescale, the file's window or VOI LUT, MONOCHROME1,
compressed syntaxes, one sample per frame; within half a grey level of pydicom's own pixel
array after the stated mapping (README: DICOM)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

try:
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.pixels import apply_modality_lut, apply_voi_lut, apply_windowing
except ImportError:
    if os.environ.get("CI"):  # the test extra installs pydicom: missing is a failure there
        raise
    pytest.skip("pydicom is not installed (pip install -e '.[test]')", allow_module_level=True)

from ll4al.data.dicom import UnsupportedDicomError, dicom_info  # noqa: E402
from ll4al.data.imagefolder import decode_images, list_images  # noqa: E402

TOLERANCE = 0.5 + 1e-6  # half a grey level: the mapping rounded to 8 bits


def dicom_file(name: str) -> Path:
    """A test file shipped by pydicom or pydicom-data (never downloaded)."""
    path = get_testdata_file(name, download=False)
    assert path is not None, f"{name} is not installed (pydicom-data)"
    return Path(path)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LL4AL_CACHE", str(tmp_path / "cache"))


def decode_one(path: Path, intensity: str, frame: str = "") -> np.ndarray:
    images = decode_images(path.parent, [path.name + frame], None, 1, False, intensity)
    return images.numpy()[0, 0].astype(np.float64)


def pydicom_windowed(ds, stored: np.ndarray) -> np.ndarray:
    """pydicom's own windowing of its own pixel array, scaled from its output range to
    [0, 1] (the output range found by windowing values far below and above any window)."""
    values = apply_modality_lut(stored, ds)
    ends = apply_windowing(np.array([-1e9, 1e9]), ds)
    return (apply_windowing(values, ds) - ends[0]) / (ends[1] - ends[0])


@pytest.mark.parametrize(
    "name",
    [
        "693_UNCR.dcm",  # CT, rescale -1024, window 40/100
        "MR_small.dcm",  # MR, window 600/1600
        "MR_small_RLE.dcm",  # compressed: RLE lossless (numpy only)
        "MR_small_jp2klossless.dcm",  # compressed: JPEG 2000 (pylibjpeg-openjpeg)
        "MR_small_jpeg_ls_lossless.dcm",  # compressed: JPEG-LS (pyjpegls)
    ],
)
def test_the_files_window_matches_pydicom(name):
    path = dicom_file(name)
    ds = pydicom.dcmread(path)
    expected = pydicom_windowed(ds, ds.pixel_array) * 255
    got = decode_one(path, "file")
    assert np.abs(got - expected).max() <= TOLERANCE
    assert got.std() > 10  # an image, not a flat field
    assert np.array_equal(decode_one(path, "auto"), got)  # auto: the file's own window


def test_ct_presets_are_windows_in_hounsfield_units():
    path = dicom_file("CT_small.dcm")  # slope 1, intercept -1024, no window of its own
    ds = pydicom.dcmread(path)
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    for preset, (center, width) in {"lung": (-600, 1500), "mediastinum": (50, 350)}.items():
        ds.WindowCenter, ds.WindowWidth = center, width  # pydicom windows it the same way
        expected = pydicom_windowed(ds, ds.pixel_array) * 255
        got = decode_one(path, preset)
        assert np.abs(got - expected).max() <= TOLERANCE, preset
        low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
        assert (got[hu <= low] == 0).all() and (got[hu > high] == 255).all()
        assert (got[(hu > low + width / 255) & (hu < high - width / 255)] % 255 != 0).all()


def test_monochrome1_is_inverted():
    path = dicom_file("RG1_UNCR.dcm")  # CR, MONOCHROME1, window 15000/30000
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    expected = (1 - pydicom_windowed(ds, ds.pixel_array)) * 255
    got = decode_one(path, "file")
    assert np.abs(got - expected).max() <= TOLERANCE


def test_a_voi_lut_is_applied():
    path = dicom_file("vlut_04.dcm")
    ds = pydicom.dcmread(path)
    bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
    expected = apply_voi_lut(ds.pixel_array, ds) / (2**bits - 1) * 255
    got = decode_one(path, "file")
    assert np.abs(got - expected).max() <= TOLERANCE
    assert len(np.unique(got)) > 100


def test_a_multiframe_file_is_one_sample_per_frame(tmp_path):
    source = dicom_file("emri_small.dcm")  # MR, 10 frames, 12 bits stored, no window
    shutil.copy(source, tmp_path / "scan.dcm")
    ids = list_images(tmp_path)
    assert ids == [f"scan.dcm#{n}" for n in range(1, 11)]
    ds = pydicom.dcmread(source)
    frames = decode_images(tmp_path, ids, None, 1, False, "file").numpy()[:, 0]
    for n in (0, 4, 9):
        expected = ds.pixel_array[n] / (2**12 - 1) * 255  # file: the range of 12 stored bits
        assert np.abs(frames[n] - expected).max() <= TOLERANCE
    assert not np.array_equal(frames[0], frames[9])


def test_an_undecodable_syntax_is_one_line_naming_file_and_syntax(tmp_path):
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(dicom_file("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no decoder reads it
    ds.PixelData = encapsulate([b"\0" * 64])
    ds.save_as(tmp_path / "video.dcm", enforce_file_format=True)
    with pytest.raises(UnsupportedDicomError) as caught:
        decode_one(tmp_path / "video.dcm", "auto")
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path / "video.dcm") in message and "MPEG2" in message


def test_a_truncated_file_is_an_error_naming_it(tmp_path):
    from ll4al.files import CorruptFileError

    shutil.copy(dicom_file("MR_truncated.dcm"), tmp_path / "cut.dcm")
    with pytest.raises(CorruptFileError, match=r"cut\.dcm: unreadable pixel data \(The number"):
        decode_one(tmp_path / "cut.dcm", "auto")


def test_the_header_keeps_patient_study_and_series():
    info = dicom_info(dicom_file("MR_small.dcm"))
    ds = pydicom.dcmread(dicom_file("MR_small.dcm"))
    assert (info.patient, info.study, info.series) == (
        ds.PatientID,
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
    )
    assert (info.width, info.height, info.frames, info.channels) == (64, 64, 1, 1)
