"""16-bit and float images read faithfully: decoded as values, mapped to 8 bits by the
project's intensity (README: High bit depth), never clipped to white, never flattened."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ll4al.config import ConfigError
from ll4al.data.imagefolder import decode_images
from ll4al.data.intensity import check_mapping

#: The stated tolerance: the exact mapping, times 255, rounded (half a grey level), plus float
#: rounding.
TOLERANCE = 0.5 + 1e-6


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LL4AL_CACHE", str(tmp_path / "cache"))


def ramp_12bit(height: int = 64, width: int = 64) -> np.ndarray:
    """A 12-bit ramp (0 to 4095), as a detector's export in a 16-bit file holds it."""
    return np.linspace(0, 4095, height * width).reshape(height, width).round().astype(np.uint16)


def save_16bit(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels.astype(np.uint16))
    assert image.mode == "I;16"
    image.save(path)
    return path


def decoded(root: Path, names: list[str], intensity: str) -> np.ndarray:
    images = decode_images(root, names, None, 1, progress=False, intensity=intensity)
    return images.numpy()[:, 0].astype(np.float64)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_ramp_is_not_saturated(tmp_path, suffix):
    ramp = ramp_12bit()
    save_16bit(tmp_path / f"ramp{suffix}", ramp)
    assert np.asarray(Image.open(tmp_path / f"ramp{suffix}")).max() == 4095  # the file holds it
    (auto,) = decoded(tmp_path, [f"ramp{suffix}"], "auto")
    assert (auto == 255).mean() < 0.01  # was 93.6% before
    assert len(np.unique(auto)) == 256  # every grey level used: the ramp is not flattened
    assert np.all(np.diff(auto.ravel()) >= 0)  # and still a ramp
    (file,) = decoded(tmp_path, [f"ramp{suffix}"], "file")
    assert np.abs(file - ramp / 65535 * 255).max() <= TOLERANCE  # file: 0..65535


def test_an_image_and_its_negative_stay_different(tmp_path):
    rng = np.random.default_rng(0)
    pixels = (ramp_12bit() + rng.integers(0, 200, (64, 64))).clip(0, 4095)
    save_16bit(tmp_path / "a.png", pixels)
    save_16bit(tmp_path / "b.png", 4095 - pixels)
    for intensity in ("auto", "percentile"):
        a, b = decoded(tmp_path, ["a.png", "b.png"], intensity)
        assert (a == b).mean() < 0.05, intensity  # was 87.7% identical
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] < -0.99, intensity
    a, b = decoded(tmp_path, ["a.png", "b.png"], "file")  # 12 bits in 0..65535: 17 grey levels
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] < -0.99


def test_float_tiff_keeps_its_values(tmp_path):
    values = np.linspace(0.0, 1.0, 32 * 32, dtype=np.float32).reshape(32, 32)
    Image.fromarray(values).save(tmp_path / "f.tif")
    (file,) = decoded(tmp_path, ["f.tif"], "file")  # float: 0 to 1
    assert np.abs(file - values * 255).max() <= TOLERANCE
    assert len(np.unique(file)) == 256  # was 0 and 1 only
    hu = (values * 2000 - 1000).astype(np.float32)  # a CT slice exported as float HU
    Image.fromarray(hu).save(tmp_path / "hu.tif")
    (lung,) = decoded(tmp_path, ["hu.tif"], "lung")  # center -600, width 1500
    low, high = -600 - 0.5 - 1499 / 2, -600 - 0.5 + 1499 / 2
    expected = np.clip((hu - low) / (high - low), 0, 1) * 255
    assert np.abs(lung - expected).max() <= TOLERANCE


def test_the_cache_is_per_mapping(tmp_path):
    save_16bit(tmp_path / "r.png", ramp_12bit())
    first = decoded(tmp_path, ["r.png"], "file")
    assert not np.array_equal(first, decoded(tmp_path, ["r.png"], "percentile"))
    assert np.array_equal(first, decoded(tmp_path, ["r.png"], "file"))  # from the cache


def test_8bit_images_are_left_as_they_are(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (16, 16), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "g.png")
    for intensity in ("auto", "percentile", "lung"):
        (out,) = decoded(tmp_path, ["g.png"], intensity)
        assert np.array_equal(out, pixels)


def test_an_unknown_mapping_is_refused():
    with pytest.raises(ConfigError, match="unknown intensity 'soft'.*lung"):
        check_mapping("soft")
