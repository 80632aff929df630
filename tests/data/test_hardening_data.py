"""Hardening of the data loaders: a bad image folder, VOC split or keypoints file is one
line naming it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ..hardening import (
    refused,
    sets,
)
from ..tasks.test_detection import make_voc, write_xml


def test_a_voc_split_without_any_box_is_refused_at_load_time(tmp_path, capsys):
    make_voc(tmp_path / "voc", [(64, 64), (64, 64), (64, 64)])
    write_xml(tmp_path / "voc" / "Annotations" / "2.xml", 64, 64, [("RBC", (9, 9, 9, 20), False)])
    settings = ["data.name=bccd", f"data.root={tmp_path / 'voc'}", "active.initial=2"]
    out = tmp_path / "out"
    args = ["run", "bccd-cpu", "--out", str(out), *sets(*settings), "--quiet"]
    with pytest.warns(UserWarning, match="dropped degenerate"):
        refused(capsys, args, out, "split 'test'", "no boxes")
    assert not out.exists()


def image_folders(root: Path, test_classes=("a", "b")) -> Path:
    for split, classes in (("train", ("a", "b")), ("test", test_classes)):
        for i, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for j in range(3):
                color = (i * 90 + j, 20, 40)
                Image.new("RGB", (8, 8), color).save(root / split / name / f"{j}.png")
    return root


def jpeg_bytes() -> bytes:
    path = Path(tempfile.mkdtemp()) / "x.jpg"
    Image.effect_noise((32, 32), 60).convert("RGB").save(path)
    data = path.read_bytes()
    shutil.rmtree(path.parent)
    return data


@pytest.mark.parametrize(
    "case", ["zero-byte", "truncated-jpeg", "not-an-image", "other-classes", "imagefolder"]
)
def test_a_bad_image_folder_is_a_one_line_error(tmp_path, capsys, monkeypatch, case):
    monkeypatch.setenv("LL4AL_CACHE", str(tmp_path / "cache"))
    root = image_folders(tmp_path / "cifar", ("a", "c") if case == "other-classes" else ("a", "b"))
    bad = root / "train" / "b" / "bad.jpg"
    names: tuple[str, ...] = (str(bad),)
    if case in ("zero-byte", "imagefolder"):
        bad.write_bytes(b"")
    elif case == "truncated-jpeg":
        bad.write_bytes(jpeg_bytes()[:300])
    elif case == "not-an-image":
        bad.write_text("hello")
    else:
        names = ("different class folders",)
    name = "imagefolder" if case == "imagefolder" else "cifar10"
    out = tmp_path / "out"
    settings = [f"data.name={name}", f"data.root={root}", "active.initial=2", "model.width=0.25"]
    args = ["run", "cifar10-cpu", "--out", str(out), *sets(*settings), "--quiet"]
    refused(capsys, args, out, *names)
    assert not out.exists()


def face_npz(path: Path, n: int = 8, **arrays) -> Path:
    values = {
        "x": np.zeros((n, 64, 64, 3), np.uint8),
        "kp": np.zeros((n, 14, 2), np.float32),
        "image_id": np.arange(n),
    }
    values.update(arrays)
    np.savez(path, **{k: v for k, v in values.items() if v is not None})
    return path


@pytest.mark.parametrize("case", ["no-kp", "wrong-shape", "truncated", "not-a-zip"])
def test_a_bad_face_keypoints_file_is_named(tmp_path, capsys, case):
    path = tmp_path / "face64.npz"
    if case == "no-kp":
        face_npz(path, kp=None)
    elif case == "wrong-shape":
        face_npz(path, x=np.zeros((8, 32, 32, 3), np.uint8))
    elif case == "truncated":
        data = face_npz(path).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(b"\x00" * 100)
    out = tmp_path / "out"
    args = ["run", "face-keypoints-cpu", "--out", str(out), *sets(f"data.root={tmp_path}")]
    refused(capsys, args, out, str(path))
    assert not out.exists()
