"""How long one frozen round of a labeling project takes: fit a head, score the pool, write
the batch, as a user runs ``ll4al query`` (a fresh process, torch import included).

Why: a round in seconds is what lets experts label interactively; the target is 15 s on a
50,000-image pool on a 2-core CPU. Builds a project on an image folder (``--images``, class
folders, e.g. CIFAR-10's train/; or ``--synthetic N`` tiny images), gives it an encoder
(``--encoder FILE``, a checkpoint of the project's network, or a one-epoch ``ll4al pretrain``
of 64 images: a round's time does not depend on the encoder's quality), imports ``--labels``
random labels, then times two queries of ``--k`` images each, scoring the whole unlabeled
pool (``active.subset`` = the pool): the first also embeds every image once (cached), the
second is the frozen round itself.

    python benchmarks/frozen_round.py --images ../shared/data/cifar10/train \\
        --encoder runs/pretrain/cifar10-resnet18-w0.25.pt --labels 1000 --k 1000
"""

from __future__ import annotations

import argparse
import csv
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

TARGET_S = 15.0


def ll4al(*args: str) -> float:
    """Run ``ll4al ARGS`` in a fresh process; its wall time in seconds."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ll4al", *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"ll4al {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def synthetic_images(root: Path, count: int) -> Path:
    """``count`` 8x8 RGB PNGs in two class folders whose colour tells the class."""
    for n in range(count):
        name = "red" if n % 2 else "blue"
        colour = (200, 40 + n % 50, 40) if n % 2 else (40, 40 + n % 50, 200)
        path = root / name / f"{n:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), colour).save(path)
    return root


def answers(rows: list[str], out: Path) -> Path:
    """A label file: each image labeled with its class folder (a perfect annotator)."""
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows([path, path.split("/")[0]] for path in rows)
    return out


def batch_paths(batch: Path) -> list[str]:
    with open(batch, newline="") as handle:
        return [row["path"] for row in csv.DictReader(handle)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", type=Path, help="an image folder of class folders")
    source.add_argument("--synthetic", type=int, help="this many generated tiny images")
    parser.add_argument("--encoder", type=Path, help="the encoder checkpoint (model.weights)")
    parser.add_argument("--labels", type=int, default=1000, help="labels before the round")
    parser.add_argument("--k", type=int, default=1000, help="images the round proposes")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--work", type=Path, help="folder for the project (default: temporary)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        images = args.images or synthetic_images(work / "images", args.synthetic)
        classes = sorted(p.name for p in images.iterdir() if p.is_dir())
        project = work / "project"
        init = ["init", str(project), "--images", str(images), "--classes", ",".join(classes)]
        init += ["--image-size", str(args.image_size), "--initial", "2", "--quiet"]
        init += ["--set", "model.mode=frozen", "--set", "active.subset=10000000"]
        if args.encoder is not None:
            init += ["--set", f"model.weights={args.encoder.resolve()}"]
        seconds_init = ll4al(*init)
        if args.encoder is None:
            ll4al("pretrain", str(project), "--epochs", "1", "--limit", "64", "--quiet")
        pool = [p.relative_to(images).as_posix() for c in classes for p in (images / c).iterdir()]
        print(f"images: {len(pool)}")
        print(f"init (registering every image): {seconds_init:.1f} s")
        labeled = random.Random(0).sample(sorted(pool), args.labels)
        ll4al("import", str(project), str(answers(labeled, work / "labels.csv")), "--outside-batch")
        first = ll4al("query", str(project), "--k", str(args.k), "--quiet")
        print(f"first round (decodes and embeds the pool once, then a round): {first:.1f} s")
        batch = batch_paths(project / "batches" / "batch-001.csv")
        ll4al("import", str(project), str(answers(batch, work / "batch-001-answers.csv")))
        second = ll4al("query", str(project), "--k", str(args.k), "--quiet")
        verdict = "ok" if second <= TARGET_S else "MISSED"
        scored = len(pool) - args.labels - args.k
        print(
            f"frozen round ({args.labels + args.k} labels; fit, score {scored} images, write "
            f"{args.k}): {second:.1f} s <= {TARGET_S:.0f} s {verdict}"
        )


if __name__ == "__main__":
    main()
