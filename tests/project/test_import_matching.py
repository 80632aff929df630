"""``ll4al import`` matches a label to the image at its path under the image root: never a
file elsewhere that shares its name; a label changed back counts; one file giving one image
two labels from one annotator is refused."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ll4al.cli import main
from ll4al.project.project import Project

from ..hardening import refused
from ..project_helpers import labels_csv, tiny_project

NAMES = ["X.png", "sub/Y.png", " lead.png", "z.png"]


pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture
def project(tmp_path) -> Path:
    return tiny_project(tmp_path, NAMES)


def decided(folder: Path) -> dict:
    opened = Project.open(folder)
    try:
        return opened.store.decided_labels()
    finally:
        opened.close()


@pytest.mark.parametrize(
    "key",
    [
        "../../etc/X.png",
        "/home/other/X.png",
        "http://evil.example/x/X.png",
        "other/X.png",
        "sub/../../X.png",
    ],
)
def test_a_path_outside_the_image_root_labels_nothing(project, tmp_path, capsys, key):
    file = labels_csv(tmp_path / "labels.csv", [(key, "cat")])
    refused(capsys, ["import", str(project), str(file), "--outside-batch"], project, "line 2")


def test_paths_under_the_root_and_unique_bare_names_match(project, tmp_path):
    root = tmp_path.resolve() / "images"
    rows = [(str(root / "X.png"), "cat"), ("./sub/Y.png", "dog"), ("z.png", "cat")]
    file = labels_csv(tmp_path / "labels.csv", rows)
    assert main(["import", str(project), str(file), "--outside-batch"]) == 0
    assert decided(project) == {"X.png": "cat", "sub/Y.png": "dog", "z.png": "cat"}


def test_a_label_changed_back_is_applied(project, tmp_path, capsys):
    a = labels_csv(tmp_path / "a.csv", [("X.png", "cat")])
    b = labels_csv(tmp_path / "b.csv", [("X.png", "dog")])
    for file, expected in ((a, "cat"), (b, "dog"), (a, "cat")):
        assert main(["import", str(project), str(file), "--outside-batch"]) == 0
        assert decided(project)["X.png"] == expected
    assert "1 new labels, 0 already imported" in capsys.readouterr().out.splitlines()[-1]
    assert main(["import", str(project), str(a), "--outside-batch"]) == 0  # the same again
    assert "0 new labels, 1 already imported" in capsys.readouterr().out


def test_a_name_starting_with_a_space_imports_from_the_batch_csv(project):
    assert main(["query", str(project), "--k", "4", "--quiet"]) == 0
    batch = project / "batches" / "batch-001.csv"
    with open(batch, newline="") as handle:
        rows = list(csv.reader(handle))
    assert " lead.png" in [row[2] for row in rows]
    for row in rows[1:]:
        row[5] = "dog" if row[2] == " lead.png" else "cat"
    with open(batch, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    assert main(["import", str(project), str(batch)]) == 0
    assert decided(project)[" lead.png"] == "dog"


def test_two_labels_for_one_image_from_one_annotator_in_one_file_are_refused(
    project, tmp_path, capsys
):
    file = labels_csv(
        tmp_path / "labels.csv", [("X.png", "cat"), ("z.png", "cat"), ("X.png", "dog")]
    )
    line = refused(capsys, ["import", str(project), str(file), "--outside-batch"], project)
    assert "line 4" in line and "line 2" in line and "'X.png'" in line
    agreeing = labels_csv(tmp_path / "same.csv", [("X.png", "cat"), ("X.png", "cat")])
    assert main(["import", str(project), str(agreeing), "--outside-batch"]) == 0
