"""Hardening of settings and files: a bad setting, config name or write is one line, and
writes reach the disk.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ll4al.config import ConfigError, config_from_dict
from ll4al.files import atomic_path

from .hardening import (
    TINY,
    refused,
    sets,
    snapshot,
)


@pytest.mark.parametrize(
    "setting,message",
    [
        ("active.query_size=abc", "active.query_size must be an integer, got 'abc'"),
        ("train.lr=fast", "train.lr must be a number, got 'fast'"),
        ("train.epochs=2.5", "train.epochs must be an integer, got 2.5"),
        ("seeds=[a,b]", "seeds must be a list of integers"),
        ("seeds=[0,1", "--set seeds: '[0,1' is not a valid YAML value"),
        ("data.download=maybe", "data.download must be true or false"),
        ("model.lpm_layers=[1]", "model.lpm_layers must be a list of strings or null"),
        ("active.query_size=0", "active.query_size must be >= 1, got 0"),
        ("active.subset=0", "active.subset must be >= 1, got 0"),
        ("active.cycles=-1", "active.cycles must be >= 1, got -1"),
        ("active.initial=1", "active.initial must be >= 2"),
    ],
)
def test_a_setting_of_the_wrong_type_or_range_is_named(demo_copy, capsys, setting, message):
    refused(capsys, ["demo", "--out", str(demo_copy), *sets(setting)], demo_copy, message)


def test_a_value_of_the_wrong_type_in_a_file_names_its_key(tmp_path, capsys):
    (tmp_path / "exp.yaml").write_text('train:\n  epochs: "ten"\n')
    out = tmp_path / "out"
    refused(capsys, ["run", str(tmp_path / "exp.yaml"), "--out", str(out)], out, "train.epochs")
    (tmp_path / "exp.yaml").write_text("train: {epochs: [1\n")
    refused(capsys, ["run", str(tmp_path / "exp.yaml")], None, "exp.yaml is not valid YAML")
    assert config_from_dict({"train": {"lr": 1}}).train.lr == 1  # an int is a fine float
    with pytest.raises(ConfigError, match="train.augment must be a string, got True"):
        config_from_dict({"train": {"augment": True}})


@pytest.mark.parametrize("name", ["../../escape", "a/b", ".", "..", "", "sp ace"])
def test_a_config_name_that_is_not_a_plain_folder_name_is_refused(tmp_path, capsys, name):
    cwd = tmp_path / "a" / "b"
    cwd.mkdir(parents=True)
    (cwd / "exp.yaml").write_text(json.dumps({"name": name}))
    before = snapshot(tmp_path)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        refused(capsys, ["run", "exp.yaml", *sets(*TINY)], None, f"name {name!r}")
    finally:
        os.chdir(old)
    assert snapshot(tmp_path) == before


def test_atomic_writes_reach_the_disk_before_and_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(
        os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd))
    )
    with atomic_path(tmp_path / "f.txt") as tmp:
        tmp.write_text("new")
    assert len(synced) == 2 and Path(synced[0]).name.startswith(".f.txt.")
    assert Path(synced[1]) == tmp_path.resolve()
