"""A labeling project over a folder of DICOM files, as a radiology team runs it: init, query,
label on the page, import, query again, export; the page shows what the model trains on, and
no patient-module tag value reaches any file ll4al writes or any page it serves."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image

try:
    import flask  # noqa: F401
    import pydicom
    from pydicom.data import get_testdata_file
except ImportError:
    if os.environ.get("CI"):  # the test and web extras install both
        raise
    pytest.skip("pydicom or flask is not installed", allow_module_level=True)

from ll4al.cli import main  # noqa: E402
from ll4al.project.project import Project  # noqa: E402
from ll4al.project.web import create_app  # noqa: E402

from ..project_helpers import TRAINING, answer_batch, table  # noqa: E402

#: ``<class>/<file>`` -> the pydicom / pydicom-data test file copied there.
FILES = {
    "ct/small.dcm": "CT_small.dcm",
    "ct/head.dcm": "693_UNCR.dcm",
    "ct/head-j2k.dcm": "693_J2KR.dcm",
    "mr/small.dcm": "MR_small.dcm",
    "mr/small-rle.dcm": "MR_small_RLE.dcm",
    "mr/knee.dcm": "MR2_UNCR.dcm",
    "mr/series.dcm": "emri_small.dcm",  # 10 frames: 10 samples
}
SIZE = 16


pytestmark = pytest.mark.usefixtures("private_cache")


def dicom_folder(root: Path, files: dict[str, str]) -> Path:
    for rel, name in files.items():
        source = get_testdata_file(name, download=False)
        assert source is not None, f"{name} is not installed (pydicom-data)"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, root / rel)
    return root


def patient_values(root: Path) -> set[str]:
    """Every value of the patient module (group 0010) of the files under ``root`` that is
    long enough to be told apart from chance bytes."""
    values = set()
    for path in root.rglob("*.dcm"):
        for element in pydicom.dcmread(path, stop_before_pixels=True):
            if element.tag.group == 0x0010 and element.VR != "SQ":
                text = str(element.value).strip()
                if len(text) >= 4:
                    values.add(text)
    return values


def init_args(project: Path, images: Path, *extra: str) -> list[str]:
    settings = [*TRAINING, "active.subset=100"]
    return [
        "init",
        str(project),
        "--images",
        str(images),
        "--classes",
        "ct,mr",
        "--image-size",
        str(SIZE),
        "--initial",
        "6",
        "--quiet",
        *[arg for setting in settings for arg in ("--set", setting)],
        *extra,
    ]


def test_a_dicom_project_runs_from_init_to_export(tmp_path, capsys):
    images = dicom_folder(tmp_path / "images", FILES)
    secrets = patient_values(images)
    assert {"1CT1", "CompressedSamples^MR1", "CQ500-CT-310"} <= secrets
    project = tmp_path / "project"
    assert main(init_args(project, images)) == 0
    opened = Project.open(project)
    ids = [s.id for s in opened.pool_samples()]
    assert len(ids) == 16 and "mr/series.dcm#10" in ids  # one sample per frame
    groups = {row[0]: row[1] for row in table(project, "sample_groups")}
    assert set(groups) == set(ids)  # every DICOM sample keeps its patient, in the store only
    assert groups["mr/small.dcm"] == groups["mr/small-rle.dcm"] == "4MR1"
    training = opened.pool_data(progress=False).images.numpy()
    opened.close()

    assert main(["query", str(project), "--k", "6", "--quiet"]) == 0  # a random draw
    app = create_app(project, "radiologist")
    app.testing = True
    served, windows = [], []
    with app.test_client() as client:
        state = client.get("/api/state").get_json()
        batch = [item["sample"] for item in state["items"]]
        assert any("#" in s for s in batch[:3]) and any("#" not in s for s in batch[:3])
        served.append(client.get("/api/state").data)
        for sample in batch[:3]:  # three on the page, the rest imported
            url = "/image/" + quote(sample)  # as the page asks: '#' of a frame is %23
            response = client.get(url)
            assert response.status_code == 200 and response.mimetype == "image/png"
            served.append(response.data)
            shown = Image.open(io.BytesIO(response.data)).convert("L")
            as_trained = np.asarray(shown.resize((SIZE, SIZE), resample=2))
            assert np.array_equal(as_trained, training[ids.index(sample), 0])  # the same image
            lung = client.get(url, query_string={"window": "lung"}).data  # the W key
            served.append(lung)
            windows.append(lung != response.data)
            answer = {
                "batch": 1,
                "sample": sample,
                "value": sample.split("/")[0],
                "seconds": 2.0,
            }
            headers = {"X-CSRF-Token": app.config["LL4AL_CSRF_TOKEN"]}
            assert client.post("/api/label", json=answer, headers=headers).status_code == 201
        assert any(windows) and state["windows"][:3] == ["auto", "file", "percentile"]
        wrong = client.get("/image/" + quote(batch[0]), query_string={"window": "x"})
        assert wrong.status_code == 400
        served += [client.get(page).data for page in ("/", "/status", "/api/status")]

    answers = answer_batch(project / "batches" / "batch-001.csv", tmp_path / "answers.csv")
    assert main(["import", str(project), str(answers)]) == 0
    assert main(["query", str(project), "--k", "4", "--quiet"]) == 0  # trains round 0
    assert "round 0: trained on 6 labels" in capsys.readouterr().out
    exports = tmp_path / "exports"
    for fmt, out in (("csv", "labels.csv"), ("labelstudio", "ls.json"), ("imagefolder", "set")):
        assert main(["export", str(project), "--format", fmt, "--out", str(exports / out)]) == 0
    exported = sorted(p.relative_to(exports / "set").as_posix() for p in exports.rglob("*.png"))
    assert len(exported) == 6 and all(name.endswith(".dcm.png") or "#" in name for name in exported)
    assert not list(exports.rglob("*.dcm"))  # the DICOM files themselves are never copied

    written = [
        p
        for p in [*project.rglob("*"), *exports.rglob("*"), answers]
        if p.is_file() and not p.name.startswith("project.sqlite")  # the store keeps them
    ]
    assert any(p.suffix == ".json" for p in written) and any(p.suffix == ".csv" for p in written)
    for blob in [*(p.read_bytes() for p in written), *served]:
        for secret in secrets:
            assert secret.encode() not in blob


def test_init_warns_when_evaluation_shares_patients_with_the_pool(tmp_path, capsys):
    images = dicom_folder(
        tmp_path / "images", {k: FILES[k] for k in ("ct/small.dcm", "mr/small.dcm")}
    )
    leaky = dicom_folder(tmp_path / "leaky", {"mr/other.dcm": "MR_small_RLE.dcm"})  # 4MR1 again
    apart = dicom_folder(tmp_path / "apart", {"mr/other.dcm": "MR2_UNCR.dcm"})
    assert main(init_args(tmp_path / "p1", images, "--eval", str(leaky))) == 0
    out = capsys.readouterr().out
    assert "warning: 1 patients (PatientID) have images both in the pool and" in out
    assert "4MR1" not in out  # how many, never which
    assert main(init_args(tmp_path / "p2", images, "--eval", str(apart))) == 0
    assert "warning" not in capsys.readouterr().out


def test_spread_keeps_one_scan_from_filling_a_batch(tmp_path, capsys):
    from ll4al.al.spread import spread

    # ranked 0..5; samples 0, 1, 2 one series, 3 and 4 another, 5 alone (None)
    groups = ["a", "a", "a", "b", "b", None]
    assert spread([0, 1, 2, 3, 4, 5], groups, 4).tolist() == [0, 3, 5, 1]
    assert spread([2, 1, 0], groups, 2).tolist() == [2, 1]  # one group: rank order

    images = dicom_folder(tmp_path / "images", FILES)
    series = {}
    for spread_by in ("none", "series"):
        project = tmp_path / spread_by
        args = init_args(project, images, "--set", f"active.spread={spread_by}")
        assert main(args) == 0
        assert main(["query", str(project), "--k", "5", "--quiet"]) == 0
        of_sample = {row[0]: row[3] for row in table(project, "sample_groups")}
        batch = [row[1] for row in table(project, "batch_items")]
        series[spread_by] = [of_sample[s] for s in batch]
    assert len(set(series["series"])) == 5  # five series among the 16 samples: one each
    assert len(set(series["none"])) < 5  # the 10-frame series takes several places
    assert "batch spread by series: 5 different among its 5 images" in capsys.readouterr().out


def test_add_registers_new_dicom_frames_with_their_groups(tmp_path):
    images = dicom_folder(tmp_path / "images", {"ct/small.dcm": "CT_small.dcm"})
    project = tmp_path / "project"
    assert main(init_args(project, images)) == 0
    dicom_folder(images, {"mr/series.dcm": "emri_small.dcm"})
    assert main(["add", str(project)]) == 0
    rows = table(project, "sample_groups")
    assert {row[0] for row in rows} == {
        "ct/small.dcm",
        *[f"mr/series.dcm#{n}" for n in range(1, 11)],
    }
    assert len({row[3] for row in rows}) == 2  # two series
