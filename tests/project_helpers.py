"""Builders for the labeling-project tests: image folders, a scripted annotator, the CLI."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import numpy as np
from PIL import Image

from ll4al.data.builtin import load_digits

# Small and quick: an 8x8 digit trains in milliseconds; the benchmark and the project get the
# same settings through --set.
TRAINING = [
    "model.name=small-cnn",
    "model.width=0.5",
    "model.lpm_hidden=16",
    "train.epochs=3",
    "train.batch_size=32",
    "train.lr=0.05",
    "train.milestones=[]",
    "train.stop_gradient_epoch=2",
    "train.augment=none",
]


def export_digits(root: Path) -> Path:
    """scikit-learn's digits as PNG class folders ``root/{train,test}/<digit>/<n>.png``."""
    data = load_digits(seed=0)
    for split, images in (("train", data.train), ("test", data.test)):
        for n, (image, target) in enumerate(zip(images.images, images.targets, strict=True)):
            path = root / split / str(int(target)) / f"{n:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = (image[0].numpy() * 16).clip(0, 255).astype(np.uint8)
            Image.fromarray(pixels, "L").save(path)
    return root


def answer_batch(batch_csv: Path, out: Path, annotator: str = "expert", seconds: float = 4.0):
    """The scripted annotator: labels every image of a batch file with its class folder."""
    with open(batch_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "annotator", "seconds"])
        for row in rows:
            writer.writerow([row["path"], row["path"].split("/")[0], annotator, seconds])
    return out


def table(project: Path, name: str) -> list[tuple]:
    """A table of the project's database, for comparing before and after."""
    with sqlite3.connect(project / "project.sqlite") as db:
        return db.execute(f"SELECT * FROM {name} ORDER BY 1").fetchall()


def make_box_images(root: Path, count: int = 6, size: tuple[int, int] = (80, 60)) -> list[dict]:
    """RGB images with one bright rectangle each; returns their boxes in pixels."""
    rng = np.random.default_rng(0)
    boxes = []
    for n in range(count):
        pixels = rng.integers(0, 40, (size[1], size[0], 3), dtype=np.uint8)
        x1, y1 = int(rng.integers(0, size[0] // 2)), int(rng.integers(0, size[1] // 2))
        x2, y2 = x1 + size[0] // 3, y1 + size[1] // 3
        pixels[y1:y2, x1:x2] = 220
        path = root / f"img{n}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
        boxes.append({"path": path.name, "box": [x1, y1, x2, y2]})
    return boxes


def init_digits_project(
    project: Path, digits: Path, initial: int, settings: list[str], *extra: str
) -> list[str]:
    """``ll4al init`` arguments for a project on the exported digits' pool (train/)."""
    return [
        "init",
        str(project),
        "--images",
        str(digits / "train"),
        "--classes",
        ",".join(map(str, range(10))),
        "--image-size",
        "8",
        "--initial",
        str(initial),
        "--quiet",
        *[arg for setting in settings for arg in ("--set", setting)],
        *extra,
    ]


def tiny_images(root: Path, names: list[str], seed: int = 0) -> Path:
    """8x8 grayscale PNGs with random pixels at ``root/<name>`` (folders made)."""
    rng = np.random.default_rng(seed)
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8), "L").save(path)
    return root


def tiny_init_args(project: Path, images: Path, *extra: str) -> list[str]:
    """``ll4al init`` of a cat/dog project on ``images`` that trains in a blink."""
    settings = [arg for s in [*TRAINING, "model.lpm_hidden=4"] for arg in ("--set", s)]
    return [
        "init",
        str(project),
        "--images",
        str(images),
        "--classes",
        "cat,dog",
        "--image-size",
        "8",
        "--initial",
        "2",
        "--quiet",
        *settings,
        *extra,
    ]


def tiny_project(tmp_path: Path, names: list[str], rows: list[tuple[str, str]] = ()) -> Path:
    """A tiny cat/dog project at ``tmp_path/project`` on ``tiny_images`` named ``names``
    (under ``tmp_path/images``), with ``rows`` (image, label) imported outside any batch."""
    from ll4al.cli import main

    folder = tmp_path / "project"
    assert main(tiny_init_args(folder, tiny_images(tmp_path / "images", names))) == 0
    if rows:
        answers = labels_csv(tmp_path / "labels.csv", list(rows))
        assert main(["import", str(folder), str(answers), "--outside-batch"]) == 0
    return folder


def label_studio_box(
    box: tuple[float, float, float, float], label: str, size: tuple[int, int], digits: int | None
) -> dict:
    """One box as Label Studio stores it: percent of the original ``size`` (width, height)
    image, rounded to ``digits`` as its editor does (None: as computed)."""
    (x1, y1, x2, y2), (width, height) = box, size

    def percent(value: float, whole: int) -> float:
        share = 100 * value / whole
        return share if digits is None else round(share, digits)

    return {
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": width,
        "original_height": height,
        "image_rotation": 0,
        "value": {
            "x": percent(x1, width),
            "y": percent(y1, height),
            "width": percent(x2 - x1, width),
            "height": percent(y2 - y1, height),
            "rotation": 0,
            "rectanglelabels": [label],
        },
    }


def labels_csv(path: Path, rows: list[tuple[str, str]], annotator: str = "ann") -> Path:
    """A hand-made label file ``path,label,annotator``."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "annotator"])
        writer.writerows([(p, label, annotator) for p, label in rows])
    return path
