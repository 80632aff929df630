"""The commands an annotator runs between batches (status, import, export, label) never load
torch, torchvision or scikit-learn: checked in a fresh process, so no test's imports count."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ll4al.project.project import Project

from .web_helpers import digits_project

LIGHT_PATHS = """
import sys
from ll4al.cli import main
from ll4al.project.web import create_app

project, labels, out = sys.argv[1:4]
assert main(["status", project]) == 0
assert main(["status", project, "--json"]) == 0
assert main(["import", project, labels, "--quiet"]) == 0
for fmt in ("csv", "labelstudio", "imagefolder"):
    assert main(["export", project, "--format", fmt, "--out", out + "." + fmt, "--quiet"]) == 0
create_app(project, "ana").test_client().get("/api/state").get_json()
heavy = [m for m in ("torch", "torchvision", "sklearn") if m in sys.modules]
assert not heavy, heavy
"""


def test_status_import_export_and_label_do_not_import_torch(tmp_path: Path):
    folder, order = digits_project(tmp_path)
    project = Project.open(folder)  # a model round with a metric, as status shows it
    project.store.save_round(0, 2, "digest", "round-000.pt", {"accuracy": 0.5}, 1.0)
    project.close()
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\n" + "".join(f"{s},{s.split('/')[0]}\n" for s in order[:3]))
    done = subprocess.run(
        [sys.executable, "-c", LIGHT_PATHS, str(folder), str(labels), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "last model (round 0, 2 labels): accuracy 0.5000" in done.stdout
