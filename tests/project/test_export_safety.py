"""``ll4al export`` neither loses nor mixes data: no stale copies, no partial output, one
VOC file per image, class names that cannot become paths."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest

from ll4al.cli import main
from ll4al.data.voc import parse_annotation, write_annotation

from ..hardening import refused, snapshot
from ..project_helpers import labels_csv, make_box_images, tiny_images, tiny_init_args, tiny_project

NAMES = ["a/x.png", "b/x.png", "a__x.png", "y.png"]


pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture
def labeled(tmp_path) -> Path:
    return tiny_project(tmp_path, NAMES, [(n, "cat") for n in NAMES])


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_imagefolder_export_again_after_a_correction_leaves_no_stale_copy(labeled, tmp_path):
    out = tmp_path / "exp"
    assert main(["export", str(labeled), "--format", "imagefolder", "--out", str(out)]) == 0
    first = files(out)
    assert first == [".ll4al-export", "cat/a__x-2.png", "cat/a__x.png", "cat/b__x.png", "cat/y.png"]
    fix = labels_csv(tmp_path / "fix.csv", [("y.png", "dog")])
    assert main(["import", str(labeled), str(fix), "--outside-batch"]) == 0
    assert main(["export", str(labeled), "--format", "imagefolder", "--out", str(out)]) == 0
    assert "cat/y.png" not in files(out) and "dog/y.png" in files(out)
    assert len(files(out)) == 5
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".exp")] == []


def test_export_refuses_a_foreign_folder_and_a_failed_one_leaves_nothing(
    labeled, tmp_path, capsys, monkeypatch
):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    args = ["export", str(labeled), "--format", "imagefolder", "--out", str(foreign)]
    refused(capsys, args, foreign, "not an ll4al export")

    out = tmp_path / "exp"
    calls = []

    def disk_full(source, target):
        calls.append(target)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        return shutil.copyfile(source, target)

    monkeypatch.setattr(shutil, "copy2", disk_full)
    args = ["export", str(labeled), "--format", "imagefolder", "--out", str(out)]
    line = refused(capsys, args, labeled, str(out), "No space left on device")
    assert ".tmp" not in line  # the export's name, not its temporary folder's
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["images", "labels.csv", "mine", "project"]
    )


def test_voc_export_writes_one_file_per_image_whatever_their_names(tmp_path, capsys):
    images = tmp_path / "images"
    boxes = make_box_images(images, 3)
    for box, name in zip(boxes, ["a/x.png", "b/x.png", "x.jpg"], strict=True):
        (images / name).parent.mkdir(exist_ok=True)
        shutil.move(images / box["path"], images / name)
        box["path"] = name
    project = tmp_path / "project"
    args = ["init", str(project), "--images", str(images), "--task", "detection"]
    assert main([*args, "--classes", "car,person", "--quiet"]) == 0
    xml = tmp_path / "xml"
    for n, box in enumerate(boxes):
        value = {"boxes": [[float(v) for v in box["box"]]], "labels": ["car"]}
        write_annotation(xml / f"{n}.xml", box["path"], 80, 60, value)
    assert main(["import", str(project), str(xml), "--outside-batch"]) == 0
    out = tmp_path / "voc"
    capsys.readouterr()
    assert main(["export", str(project), "--format", "voc", "--out", str(out)]) == 0
    assert "3 labeled images exported" in capsys.readouterr().out
    written = sorted((out / "Annotations").glob("*.xml"))
    assert [p.name for p in written] == ["a__x.png.xml", "b__x.png.xml", "x.jpg.xml"]
    assert [list(parse_annotation(p, ["car", "person"])["labels"]) for p in written] == [[1]] * 3
    before = snapshot(project)
    assert main(["import", str(project), str(out / "Annotations"), "--outside-batch"]) == 0
    assert "0 new labels, 3 already imported" in capsys.readouterr().out
    assert snapshot(project) == before  # read back, every file names its own image


@pytest.mark.parametrize("classes", ["../../escaped,b", "a/b,c", ".hidden,b", "a,b\\c", "a,.."])
def test_class_names_that_would_become_paths_are_refused_at_init(tmp_path, capsys, classes):
    images = tiny_images(tmp_path / "images", ["x.png", "y.png"])
    project = tmp_path / "project"
    args = [*tiny_init_args(project, images), "--classes", classes]
    refused(capsys, args, None, "class name")
    assert not project.exists()


def test_a_class_name_edited_into_a_path_is_refused_on_open(labeled, tmp_path, capsys):
    settings = labeled / "project.yaml"
    settings.write_text(settings.read_text().replace("- cat", "- ../../cat"))
    out = tmp_path / "exp"
    args = ["export", str(labeled), "--format", "imagefolder", "--out", str(out)]
    refused(capsys, args, labeled, "project.yaml", "'../../cat'")
    assert not out.exists() and not (tmp_path.parent / "cat").exists()
