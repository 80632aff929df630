"""Images replaced after labeling: reported by ``status``, refused by ``query`` and
``export`` until the user puts them back or registers the new pixels (labels set aside)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ll4al.cli import main

from ..hardening import refused
from ..project_helpers import labels_csv, table, tiny_project

NAMES = ["a/x.png", "a/y.png", "b/x.png", "b/z.png", "w.png", "v.png"]


pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture
def labeled(tmp_path) -> tuple[Path, Path]:
    """A project whose six images all have a label (cat: a/, dog: the rest)."""
    rows = [(n, "cat" if n.startswith("a/") else "dog") for n in NAMES]
    return tiny_project(tmp_path, NAMES, rows), tmp_path / "images"


def other_pixels(path: Path, keep_times: bool = False) -> None:
    """Copy other pixels over an image (same size); ``keep_times`` as ``cp -p`` would."""
    before = path.stat()
    pixels = 255 - np.asarray(Image.open(path))
    Image.fromarray(pixels.astype(np.uint8), "L").save(path)
    if keep_times:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def status_json(project: Path, capsys) -> dict:
    capsys.readouterr()
    assert main(["status", str(project), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_replaced_image_is_reported_refused_then_reregistered_with_labels_aside(
    labeled, tmp_path, capsys
):
    project, images = labeled
    other_pixels(images / "a/x.png", keep_times=True)  # same size and mtime: ctime tells
    os.utime(images / "w.png")  # touched, same bytes: not replaced

    assert status_json(project, capsys)["replaced"] == ["a/x.png"]
    assert main(["status", str(project)]) == 0
    assert "REPLACED: 1 images" in capsys.readouterr().out
    out = tmp_path / "export.csv"
    for args in (
        ["export", str(project), "--format", "csv", "--out", str(out)],
        ["export", str(project), "--format", "imagefolder", "--out", str(tmp_path / "folder")],
        ["query", str(project), "--k", "1", "--quiet"],
    ):
        refused(capsys, args, project, "a/x.png", "--accept-changed")
    assert not out.exists() and not (tmp_path / "folder").exists()

    assert main(["add", str(project), "--quiet"]) == 0  # says so, changes no label
    assert "warning: 1 registered images were replaced" in capsys.readouterr().out
    assert len(table(project, "labels")) == 6

    assert main(["add", str(project), "--accept-changed", "--quiet"]) == 0
    assert "1 labels they had were set aside" in capsys.readouterr().out
    aside = table(project, "labels_aside")
    assert [(row[1], json.loads(row[2])) for row in aside] == [("a/x.png", "cat")]
    assert "a/x.png" not in {row[1] for row in table(project, "labels")}
    info = status_json(project, capsys)
    assert info["replaced"] == [] and info["labels_aside"] == 1 and info["labeled"] == 5

    assert main(["export", str(project), "--format", "csv", "--out", str(out)]) == 0
    exported = out.read_text().splitlines()
    assert len(exported) == 6 and not any(line.startswith("a/x.png,") for line in exported)

    # labeled again, the image exports with its new label; the old one stays aside
    again = labels_csv(tmp_path / "again.csv", [("a/x.png", "dog")])
    assert main(["import", str(project), str(again), "--outside-batch"]) == 0
    assert main(["export", str(project), "--format", "csv", "--out", str(out)]) == 0
    assert "a/x.png,dog" in out.read_text().splitlines()
    assert len(table(project, "labels_aside")) == 1


def test_the_original_put_back_is_accepted_without_anything_set_aside(labeled, tmp_path, capsys):
    project, images = labeled
    original = tmp_path / "original.png"
    shutil.copy2(images / "b/z.png", original)
    other_pixels(images / "b/z.png")
    assert status_json(project, capsys)["replaced"] == ["b/z.png"]
    shutil.copy2(original, images / "b/z.png")
    out = tmp_path / "export.csv"
    assert main(["export", str(project), "--format", "csv", "--out", str(out)]) == 0
    assert status_json(project, capsys)["replaced"] == []
    assert table(project, "labels_aside") == []


def test_a_deleted_image_is_named_and_query_refuses_before_training(labeled, capsys):
    project, images = labeled
    (images / "v.png").unlink()
    assert status_json(project, capsys)["missing"] == ["v.png"]
    refused(capsys, ["query", str(project), "--k", "1", "--quiet"], project, "v.png", "missing")


def test_status_and_export_read_a_snapshot_while_a_query_holds_the_project(
    labeled, tmp_path, capsys
):
    """A query holds .lock for its whole run and writes its batch in one transaction: status
    and export neither wait for it nor see half of its writes."""
    import sqlite3

    from ll4al.files import file_lock

    project, _ = labeled
    writer = sqlite3.connect(project / "project.sqlite", isolation_level=None)
    with file_lock(project / ".lock", wait=False) as held:
        assert held
        writer.execute("BEGIN IMMEDIATE")  # the batch being written, not yet committed
        writer.execute(
            "INSERT INTO labels (sample, value, annotator, created, source) "
            "VALUES ('w.png', '\"cat\"', 'other', 'now', 'x.csv')"
        )
        assert status_json(project, capsys)["labels"] == 6
        out = tmp_path / "export.csv"
        assert main(["export", str(project), "--format", "csv", "--out", str(out)]) == 0
        assert len(out.read_text().splitlines()) == 7
        writer.execute("COMMIT")
    writer.close()
    assert status_json(project, capsys)["labels"] == 7


def test_status_hashes_a_touched_image_once(labeled, capsys, monkeypatch):
    """A file whose times changed (copied to another disk, touched) is hashed by the first
    status, which records its new stat, not by every status after it."""
    import ll4al.project.integrity as integrity

    project, images = labeled
    for name in NAMES:
        os.utime(images / name)
    hashed = []
    real = integrity.file_checksum
    monkeypatch.setattr(integrity, "file_checksum", lambda path: hashed.append(path) or real(path))
    assert status_json(project, capsys)["replaced"] == []
    assert len(hashed) == len(NAMES)
    assert status_json(project, capsys)["replaced"] == []
    assert len(hashed) == len(NAMES)
