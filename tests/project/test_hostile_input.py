"""Hostile inputs that used to end in a traceback: each is a one-line error (or a quiet exit)
and leaves the project as it was."""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from ll4al.cli import main

from ..hardening import refused
from ..project_helpers import tiny_images, tiny_init_args

pytestmark = pytest.mark.usefixtures("private_cache")


def test_query_on_a_one_image_folder(tmp_path, capsys):
    images = tiny_images(tmp_path / "images", ["only.png"])
    project = tmp_path / "project"
    assert main(tiny_init_args(project, images)) == 0
    refused(capsys, ["query", str(project), "--k", "5", "--quiet"], project, "has one image")


def huge_png_header(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims ``width`` x ``height`` (and no pixels to speak of)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_a_png_claiming_40000_by_40000_pixels_is_named_at_init(tmp_path, capsys):
    images = tiny_images(tmp_path / "images", ["a.png", "b.png"])
    huge_png_header(images / "bomb.png", 40000, 40000)
    project = tmp_path / "project"
    refused(capsys, tiny_init_args(project, images), None, "bomb.png")
    assert not (project / "project.yaml").exists()


def test_a_5000_digit_number_in_a_label_studio_export(tmp_path, capsys):
    images = tiny_images(tmp_path / "images", ["a.png", "b.png"])
    project = tmp_path / "project"
    assert main(tiny_init_args(project, images)) == 0
    export = tmp_path / "ls.json"
    task = '[{"id": 1, "data": {"image": "a.png"}, "annotations": [{"lead_time": %s}]}]'
    export.write_text(task % ("9" * 5000))
    refused(capsys, ["import", str(project), str(export), "--outside-batch"], project, "digits")


def test_status_into_a_closed_pipe_exits_quietly(tmp_path):
    images = tiny_images(tmp_path / "images", ["a.png", "b.png"])
    project = tmp_path / "project"
    assert main(tiny_init_args(project, images)) == 0
    command = [sys.executable, "-c", "import sys; from ll4al.cli import main; sys.exit(main())"]
    reader, writer = os.pipe()
    os.close(reader)  # `| head -1` that has already left
    done = subprocess.run([*command, "status", str(project)], stdout=writer, stderr=subprocess.PIPE)
    os.close(writer)
    assert done.stderr.decode() == ""
    assert done.returncode == 141


def test_a_30000_deep_json_body_is_a_400(tmp_path):
    pytest.importorskip("flask")
    from ll4al.project.web import create_app

    from .web_helpers import digits_project

    project, _ = digits_project(tmp_path, count=12, batch=4)
    app = create_app(project, "ann")
    token = app.config["LL4AL_CSRF_TOKEN"]
    body = "[" * 30000 + "]" * 30000
    answer = app.test_client().post(
        "/api/label",
        data=body,
        headers={"Content-Type": "application/json", "X-CSRF-Token": token},
    )
    assert answer.status_code == 400
    assert "nested too deeply" in json.loads(answer.data)["error"]


def init_refused(tmp_path: Path, capsys, *extra: str, named: str) -> None:
    images = tiny_images(tmp_path / "images", ["a.png", "b.png"])
    project = tmp_path / "new" / "project"
    refused(capsys, tiny_init_args(project, images, *extra), None, named)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--initial", "0"], "active.initial"),
        (["--cost-money", "-1"], "cost.money"),
        (["--eval", "/nonexistent/eval"], "--eval folder /nonexistent/eval not found"),
    ],
)
def test_init_refuses_bad_options_and_leaves_no_folder(tmp_path, capsys, extra, named):
    init_refused(tmp_path, capsys, *extra, named=named)


def test_init_refuses_an_eval_folder_with_a_class_the_project_lacks(tmp_path, capsys):
    tiny_images(tmp_path / "eval", ["cat/e1.png", "horse/e2.png"])
    init_refused(tmp_path, capsys, "--eval", str(tmp_path / "eval"), named="['horse']")


def test_init_with_a_bad_labels_file_leaves_no_project_behind(tmp_path, capsys):
    labels = tmp_path / "known.csv"
    labels.write_text("path,label\na.png,cat\nb.png,horse\n")
    init_refused(tmp_path, capsys, "--labels", str(labels), named="line 3")


def test_seconds_beyond_a_day_are_refused_from_a_csv(tmp_path, capsys):
    images = tiny_images(tmp_path / "images", ["a.png", "b.png"])
    project = tmp_path / "project"
    assert main(tiny_init_args(project, images)) == 0
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label,seconds\na.png,cat,3\nb.png,dog,1e300\n")
    refused(capsys, ["import", str(project), str(labels), "--outside-batch"], project, "line 3")


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b'path,label\na.png,"cat\nb.png,dog\n', "line 2: a quote"),
        ("path,label\na.png,cat\n".encode("utf-16"), "UTF-16"),
        ("path,label\na.png,cat\n".encode("utf-16-le"), "UTF-16"),
        (b"path,label\na.png," + b"x" * 100_000 + b"\n", "unknown class 'xxx"),
    ],
)
def test_label_file_messages_say_what_to_fix(tmp_path, capsys, content, named):
    images = tiny_images(tmp_path / "images", ["a.png", "b.png"])
    project = tmp_path / "project"
    assert main(tiny_init_args(project, images)) == 0
    labels = tmp_path / "labels.csv"
    labels.write_bytes(content)
    line = refused(capsys, ["import", str(project), str(labels), "--outside-batch"], project, named)
    assert len(line) < 400


def test_a_symbolic_link_to_a_file_outside_the_folder_is_not_registered(tmp_path, capsys):
    images = tiny_images(tmp_path / "images", ["a.png", "b.png", "sub/c.png"])
    secret = tiny_images(tmp_path / "elsewhere", ["secret.png"]) / "secret.png"
    (images / "leak.png").symlink_to(secret)
    (images / "inside.png").symlink_to(images / "sub" / "c.png")  # a link within: fine
    project = tmp_path / "project"
    assert main(tiny_init_args(project, images)) == 0
    assert "1 images under" in capsys.readouterr().out
    (images / "later.png").symlink_to(secret)
    assert main(["add", str(project), "--quiet"]) == 0
    assert "later.png" in capsys.readouterr().out
    with sqlite3.connect(project / "project.sqlite") as db:
        ids = sorted(row[0] for row in db.execute("SELECT id FROM samples"))
    assert ids == ["a.png", "b.png", "inside.png", "sub/c.png"]
