"""How fast ``ll4al status`` starts on a large project, and whether it loads torch.

Why: status, import, export and label are what an annotator runs between batches; loading the
torch stack (seconds) for them would make every check feel slow. Builds a project of N tiny
PNG images (``ll4al init``, once), then times ``ll4al status`` in fresh processes and runs the
status, import and export code paths in one more, reporting whether torch, torchvision or
scikit-learn got imported. The target: under 1 s on a 60,000-image project.

    python benchmarks/startup.py --images 60000
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

TARGET_S = 1.0
HEAVY = ("torch", "torchvision", "sklearn")
PATHS = """
import sys
from ll4al.cli import main
project, labels, out = sys.argv[1:4]
assert main(["status", project]) == 0
assert main(["import", project, labels, "--outside-batch", "--quiet"]) == 0
assert main(["export", project, "--format", "csv", "--out", out, "--quiet"]) == 0
print("heavy modules imported:", [m for m in {heavy} if m in sys.modules])
"""


def make_project(folder: Path, images: int) -> Path:
    """``folder/project``: ``images`` 4x4 grayscale PNGs in two classes, registered."""
    root = folder / "images"
    for n in range(images):
        path = root / ("a" if n % 2 else "b") / f"{n:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (4, 4), n % 256).save(path)
    project = folder / "project"
    init = ["init", str(project), "--images", str(root), "--classes", "a,b", "--quiet"]
    subprocess.run([sys.executable, "-m", "ll4al", *init], check=True, capture_output=True)
    (folder / "labels.csv").write_text("path,label\na/000001.png,a\n")
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=60000, help="images in the project")
    parser.add_argument("--reps", type=int, default=3, help="status runs timed (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        project = make_project(folder, args.images)
        seconds = []
        for _ in range(args.reps):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "ll4al", "status", str(project)],
                check=True,
                capture_output=True,
            )
            seconds.append(time.perf_counter() - started)
        code = PATHS.format(heavy=HEAVY)
        paths = [str(project), str(folder / "labels.csv"), str(folder / "export.csv")]
        done = subprocess.run(
            [sys.executable, "-c", code, *paths], check=True, capture_output=True, text=True
        )
    took = statistics.median(seconds)
    verdict = "ok" if took <= TARGET_S else "MISSED"
    print(f"images: {args.images:,}")
    print(f"ll4al status: {took:.2f} s (median of {args.reps}) <= {TARGET_S:.0f} s {verdict}")
    print(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
