import os
import pickle
import shutil

import numpy as np
import pytest
import torch

from ll4al.config import ConfigError
from ll4al.data import arrays as data_mod
from ll4al.data import imagefolder
from ll4al.data.arrays import ArrayDataset
from ll4al.data.builtin import load_cifar10, load_digits
from ll4al.files import CorruptFileError
from ll4al.tasks.classification import random_crop_flip

CIFAR_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def test_crop_flip_returns_shifted_windows_of_the_padded_batch():
    gen = torch.Generator().manual_seed(0)
    batch = torch.arange(2 * 1 * 5 * 5, dtype=torch.float32).view(2, 1, 5, 5) + 1
    out = random_crop_flip(batch, padding=2, generator=gen)
    assert out.shape == batch.shape
    padded = torch.nn.functional.pad(batch, (2,) * 4)
    for b in range(2):
        windows = [padded[b, :, y : y + 5, x : x + 5] for y in range(5) for x in range(5)]
        windows += [w.flip(2) for w in windows]
        assert any(torch.equal(out[b], w) for w in windows)


def test_crop_flip_without_padding_only_flips_about_half():
    batch = torch.randn(400, 3, 4, 4)
    out = random_crop_flip(batch, padding=0, generator=torch.Generator().manual_seed(1))
    same = [torch.equal(o, b) for o, b in zip(out, batch, strict=True)]
    flipped = [torch.equal(o, b.flip(2)) for o, b in zip(out, batch, strict=True)]
    assert all(s or f for s, f in zip(same, flipped, strict=True))
    assert 150 < sum(flipped) < 250


def test_array_dataset_normalises_and_serves_unlabeled_data():
    images = torch.full((3, 1, 2, 2), 200, dtype=torch.uint8)
    ds = ArrayDataset(images, None, mean=(0.5,), std=(0.25,))
    assert ds.targets is None and len(ds) == 3
    expected = (200 - 127.5) / 63.75
    assert torch.allclose(ds.inputs(np.array([0, 2])), torch.full((2, 1, 2, 2), expected))
    with pytest.raises(ValueError, match="targets"):
        ArrayDataset(images, np.zeros(2), (0.5,), (0.25,))


def test_digits_split_is_stratified_and_disjoint():
    data = load_digits(seed=0)
    assert len(data.train) + len(data.test) == 1797
    assert data.train.images.shape[1:] == (1, 8, 8)
    assert set(np.unique(data.test.targets)) == set(range(10))
    x = data.train.inputs(np.arange(len(data.train)))
    assert abs(float(x.mean())) < 0.1


@pytest.fixture
def small_cifar_folder(shared_data, tmp_path, monkeypatch):
    """A few real CIFAR-10 JPEGs from the shared copy, in the same ImageFolder layout."""
    monkeypatch.setenv("LL4AL_CACHE", str(tmp_path / "cache"))
    source = shared_data / "cifar10"
    root = tmp_path / "cifar10"
    for split in ("train", "test"):
        for cls in CIFAR_CLASSES[:3]:
            files = sorted((source / split / cls).iterdir())[:4]
            (root / split / cls).mkdir(parents=True)
            for f in files:
                shutil.copy(f, root / split / cls / f.name)
    return root


def test_shared_cifar_folder_has_the_documented_classes(shared_data):
    assert sorted(p.name for p in (shared_data / "cifar10" / "train").iterdir()) == CIFAR_CLASSES


def test_cifar_image_folder_is_decoded_once_and_cached(small_cifar_folder, tmp_path, monkeypatch):
    data = load_cifar10(small_cifar_folder)
    assert data.train.images.shape == (12, 3, 32, 32) and data.train.images.dtype == torch.uint8
    assert data.train.targets.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2

    def no_decoding(*args):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(imagefolder, "_decode_files", no_decoding)
    again = load_cifar10(small_cifar_folder)
    assert torch.equal(again.train.images, data.train.images)


def test_cifar_from_torchvision_files(tmp_path, monkeypatch):
    """The download path's reader, on local files in torchvision's format."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets import cifar as cifar_module

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    names = [n for n, _ in CIFAR10.train_list] + [n for n, _ in CIFAR10.test_list]
    for name in names:
        batch = {
            "data": rng.integers(0, 255, (5, 3072), dtype=np.uint8),
            "labels": rng.integers(0, 10, 5).tolist(),
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {"label_names": CIFAR_CLASSES}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    monkeypatch.setattr(cifar_module, "check_integrity", lambda *args: True)  # no md5 of fakes
    data = load_cifar10(tmp_path)
    assert data.train.images.shape == (25, 3, 32, 32) and len(data.test) == 5


def test_missing_cifar_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_cifar10(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="No CIFAR-10 found"):
        load_cifar10(tmp_path)


def test_cifar_folders_with_different_classes_are_refused(small_cifar_folder):
    shutil.rmtree(small_cifar_folder / "test" / "bird")
    with pytest.raises(ValueError, match="different class folders"):
        load_cifar10(small_cifar_folder)


def test_hold_out_splits_the_pool_and_never_uses_the_test_set():
    ids = torch.arange(300).view(300, 1, 1, 1).to(torch.int32)  # each image holds its index
    pool = ArrayDataset(ids, np.arange(300) % 3, mean=(0.0,), std=(1.0,), scale=1.0)
    test = ArrayDataset(ids[:50] + 1000, np.zeros(50), mean=(0.0,), std=(1.0,), scale=1.0)
    data = data_mod.TaskData(train=pool, test=test, num_outputs=3, in_channels=1)
    held = data_mod.hold_out(data, 40, seed=0)
    train_ids = set(held.train.images.flatten().tolist())
    validation_ids = set(held.test.images.flatten().tolist())
    assert (len(train_ids), len(validation_ids)) == (260, 40)
    assert train_ids | validation_ids == set(range(300))  # a partition of the pool
    assert held.test.targets.tolist() == [i % 3 for i in held.test.images.flatten().tolist()]
    again = data_mod.hold_out(data, 40, seed=0)
    assert torch.equal(again.test.images, held.test.images)  # a fixed split
    with pytest.raises(ValueError, match="cannot hold out"):
        data_mod.hold_out(data, 300)


def test_subset_keeps_labels_and_normalisation():
    data = load_digits().train
    sub = data.subset(np.array([5, 2]))
    assert sub.targets.tolist() == [data.targets[5], data.targets[2]]
    assert torch.equal(sub.inputs([0, 1]), data.inputs([5, 2]))


def _png(path, pixels) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path)


def test_an_imagefolder_data_set_takes_any_classes_sizes_and_channels(tmp_path, monkeypatch):
    monkeypatch.setenv("LL4AL_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "xrays"
    for split, count in (("train", 3), ("test", 2)):
        for name, level in (("normal", 30), ("pneumonia", 200)):
            for n in range(count):
                _png(root / split / name / f"{n}.png", np.full((10 + n, 12), level))
    from ll4al.config import DataSettings

    data = imagefolder.load_imagefolder(DataSettings("imagefolder", str(root), image_size=16))
    assert data.in_channels == 1 and data.num_outputs == 2
    assert data.train.images.shape == (6, 1, 16, 16) and data.test.images.shape == (4, 1, 16, 16)
    assert data.train.targets.tolist() == [0, 0, 0, 1, 1, 1]
    colour = imagefolder.load_imagefolder(
        DataSettings("imagefolder", str(root), image_size=8, channels=3)
    )
    assert colour.train.images.shape == (6, 3, 8, 8)
    with pytest.raises(ConfigError, match="differ in size .* set an image size"):
        imagefolder.load_imagefolder(DataSettings("imagefolder", str(root)))
    _png(root / "test" / "covid" / "0.png", np.zeros((10, 12)))
    with pytest.raises(ConfigError, match=r"class folders the pool lacks: \['covid'\]"):
        imagefolder.load_imagefolder(DataSettings("imagefolder", str(root), image_size=8))


def test_a_broken_image_is_one_error_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LL4AL_CACHE", str(tmp_path / "cache"))
    _png(tmp_path / "a" / "ok.png", np.zeros((4, 4, 3)))
    (tmp_path / "a" / "empty.jpg").write_bytes(b"")
    with pytest.raises(CorruptFileError, match=r"empty\.jpg: not a readable image"):
        imagefolder.decode_images(tmp_path, ["a/empty.jpg", "a/ok.png"])
    whole = tmp_path / "a" / "whole.jpg"
    _png(whole, np.random.default_rng(0).integers(0, 255, (64, 64, 3)))  # JPEG by its suffix
    (tmp_path / "a" / "cut.jpg").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(CorruptFileError, match=r"cut\.jpg: not a readable image"):
        imagefolder.decode_images(tmp_path, ["a/cut.jpg"])


def test_the_decoded_image_cache_notices_replaced_files_and_rebuilds_a_broken_cache(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("LL4AL_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "img" / "x.bmp"
    _png(path, np.zeros((4, 4)))
    first = imagefolder.decode_images(tmp_path / "img", ["x.bmp"], channels=1)
    size = path.stat().st_size
    other = tmp_path / "other.bmp"
    _png(other, np.full((4, 4), 7))
    os.replace(other, path)  # other pixels, the same size (BMP): a new mtime
    assert path.stat().st_size == size
    again = imagefolder.decode_images(tmp_path / "img", ["x.bmp"], channels=1)
    assert int(first.max()) == 0 and int(again.min()) == 7
    cached = max((tmp_path / "cache").glob("*.npy"), key=lambda p: p.stat().st_mtime_ns)
    cached.write_bytes(cached.read_bytes()[:40])
    with pytest.warns(UserWarning, match="unreadable.*rebuilding"):
        rebuilt = imagefolder.decode_images(tmp_path / "img", ["x.bmp"], channels=1)
    assert torch.equal(rebuilt, again)


class CountingDecoder:
    """``mapped_image`` that records which files it was asked to decode."""

    def __init__(self) -> None:
        self.decoded: list[str] = []
        self.real = imagefolder.mapped_image

    def __call__(self, path, intensity, mode):
        self.decoded.append(path.name)
        return self.real(path, intensity, mode)


def test_new_and_replaced_images_are_the_only_ones_decoded_again(tmp_path, monkeypatch):
    monkeypatch.setenv("LL4AL_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "pool"
    rng = np.random.default_rng(0)
    for n in range(6):
        _png(root / f"{n}.png", rng.integers(0, 255, (4, 4)))
    counter = CountingDecoder()
    monkeypatch.setattr(imagefolder, "mapped_image", counter)
    names = [f"{n}.png" for n in range(6)]
    imagefolder.decode_images(root, names[:4], channels=1, progress=False)
    assert counter.decoded == ["0.png", "1.png", "2.png", "3.png"]

    counter.decoded.clear()  # two images added, one replaced by other pixels
    other = tmp_path / "other.png"
    _png(other, np.full((4, 4), 9))
    os.replace(other, root / "1.png")
    grown = imagefolder.decode_images(root, names, channels=1, progress=False)
    assert sorted(counter.decoded) == ["1.png", "4.png", "5.png"]
    assert int(grown[1].min()) == int(grown[1].max()) == 9

    monkeypatch.setenv("LL4AL_CACHE", str(tmp_path / "fresh"))  # the same, decoded whole
    assert torch.equal(imagefolder.decode_images(root, names, channels=1, progress=False), grown)
    caches = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(caches) == 2 and {p.split(".")[-1] for p in caches} == {"npy", "json"}

    counter.decoded.clear()  # a second project on part of the folder reuses, keeps the whole
    part = imagefolder.decode_images(root, names[2:], channels=1, progress=False)
    assert counter.decoded == [] and torch.equal(part, grown[2:])
    monkeypatch.setenv("LL4AL_CACHE", str(tmp_path / "cache"))
    assert torch.equal(imagefolder.decode_images(root, names, channels=1, progress=False), grown)
    assert counter.decoded == []


def test_an_unreadable_earlier_cache_is_decoded_anew_not_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("LL4AL_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "pool"
    for n in range(3):
        _png(root / f"{n}.png", np.full((4, 4), n))
    imagefolder.decode_images(root, ["0.png", "1.png"], channels=1, progress=False)
    (index,) = (tmp_path / "cache").glob("*.json")
    index.write_text("{not json")
    counter = CountingDecoder()
    monkeypatch.setattr(imagefolder, "mapped_image", counter)
    images = imagefolder.decode_images(root, ["0.png", "1.png", "2.png"], channels=1)
    assert counter.decoded == ["0.png", "1.png", "2.png"]
    assert [int(image.max()) for image in images] == [0, 1, 2]
