"""Builders for the labeling-page tests: a small digits project with an open batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ll4al.project.commands import init_project
from ll4al.project.project import Project

DIGITS = [str(d) for d in range(10)]


def export_some_digits(root: Path, count: int) -> None:
    """The first ``count`` of scikit-learn's 8x8 digits as PNGs ``root/<digit>/<n>.png``."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    for n in range(count):
        path = root / str(int(bunch.target[n])) / f"{n:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = (bunch.images[n] * 16).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels, "L").save(path)


def digits_project(
    tmp: Path,
    count: int = 30,
    batch: int = 12,
    extra: dict[str, Path] | None = None,
    name: str = "project",
) -> tuple[Path, list[str]]:
    """A classification project on ``count`` digits (classes 0-9) whose first batch (round 0,
    learning-loss, with guesses and scores) holds ``batch`` images in a fixed shuffled order.

    ``extra``: more image files to register, ``{relative path: source file}``, put at the
    batch's end. Returns the project folder and the batch's sample ids in rank order."""
    images = tmp / "images"
    export_some_digits(images, count)
    for rel, source in (extra or {}).items():
        (images / rel).parent.mkdir(parents=True, exist_ok=True)
        (images / rel).write_bytes(source.read_bytes())
    folder = tmp / name
    options = {"image_size": 8, "active": {"initial": 2}, "cost": {"minutes": 2, "money": 1.5}}
    init_project(folder, images, "classification", DIGITS, options, [], progress=False, log=quiet)
    project = Project.open(folder)
    samples = [s.id for s in project.pool_samples()]
    shuffled = [samples[i] for i in np.random.default_rng(0).permutation(len(samples))]
    order = [s for s in shuffled if s not in (extra or {})][:batch] + list(extra or {})
    items = []
    for rank, sample in enumerate(order):
        truth = int(sample.split("/")[0])
        guess = str(truth if rank % 4 else (truth + 1) % 10)  # every 4th guess is wrong
        items.append((sample, round(2.0 - rank * 0.1, 3), guess))
    with project.store.transaction() as db:
        project.store.add_batch(db, 1, "learning-loss", 0, items)
    project.close()
    return folder, order


def boxes_project(tmp: Path) -> tuple[Path, list[str]]:
    """A detection project (classes cell, debris) on six 80x60 images, all in batch 1 with a
    guessed box each."""
    from ..project_helpers import make_box_images

    images = tmp / "smears"
    truth = make_box_images(images, count=6, size=(80, 60))
    folder = tmp / "project"
    options = {"image_size": 64, "active": {"initial": 2}}
    init_project(folder, images, "detection", ["cell", "debris"], options, [], False, quiet)
    project = Project.open(folder)
    items = [
        (t["path"], 1.0, {"boxes": [t["box"]], "labels": ["cell"], "scores": [0.9]}) for t in truth
    ]
    with project.store.transaction() as db:
        project.store.add_batch(db, 1, "learning-loss", 0, items)
    project.close()
    return folder, [t["path"] for t in truth]


def quiet(_line: str) -> None:
    pass


def stored_labels(folder: Path) -> list[dict]:
    """The project's labels, oldest first, values decoded."""
    project = Project.open(folder)
    try:
        return [{**dict(r), "value": json.loads(r["value"])} for r in project.store.labels()]
    finally:
        project.close()
