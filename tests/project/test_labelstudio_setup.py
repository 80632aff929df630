"""``ll4al labelstudio`` without a server: where images must be, and what is refused early."""

from __future__ import annotations

from pathlib import Path

import pytest

from ll4al.cli import main
from ll4al.project.labelstudio_setup import image_url
from ll4al.project.project import ProjectError


def test_task_urls_name_the_image_below_the_document_root(tmp_path: Path) -> None:
    images = tmp_path / "root" / "xrays"
    images.mkdir(parents=True)
    url = image_url(images, tmp_path / "root")
    assert url("a b/c#1.png") == "/data/local-files/?d=xrays/a%20b/c%231.png"


def test_the_root_itself_or_a_folder_outside_it_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(ProjectError, match="refuses a storage there"):
        image_url(root, root)
    with pytest.raises(ProjectError, match="not under Label Studio's"):
        image_url(tmp_path / "elsewhere", root)


def test_a_missing_token_or_a_bad_url_is_a_one_line_error(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    from .web_helpers import digits_project

    folder, _ = digits_project(tmp_path, count=12, batch=4)
    assert main(["labelstudio", str(folder), "--url", "http://127.0.0.1:9"]) == 2
    assert "no Label Studio token: pass --token" in capsys.readouterr().err
    args = ["labelstudio", str(folder), "--url", "ftp://x", "--token", "t"]
    assert main(args) == 2
    assert "is not an http(s) URL" in capsys.readouterr().err
    args = ["labelstudio", str(folder), "--url", "http://127.0.0.1:9", "--token", "t"]
    assert main(args) == 2
    assert "cannot reach Label Studio at http://127.0.0.1:9" in capsys.readouterr().err
