"""Against a real Label Studio: the recipe, the predictions it accepts, and the store after an
annotators' session, both through its export and through ``ll4al serve``'s webhook.

Label Studio pins many packages, so it lives in its own virtual environment: ``.ci/run``
makes ``.ls-venv`` and sets ``LL4AL_LABEL_STUDIO`` to its ``label-studio`` binary. Without it
the test skips on a workstation, but fails when ``CI`` is set, so CI never passes by skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flask")

from ll4al.cli import main  # noqa: E402
from ll4al.project.labelstudio_backend import create_backend  # noqa: E402

from ..project_helpers import TRAINING, label_studio_box  # noqa: E402
from .web_helpers import export_some_digits, quiet  # noqa: E402

TOKEN = "ll4al-ci-token-0123456789"
ADMIN = "ci@ll4al.test"
SECOND = "bo@ll4al.test"
VALIDATION_FLAG = "fflag_feat_utc_210_prediction_validation_15082025"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabelStudio:
    url: str
    root: Path  # LOCAL_FILES_DOCUMENT_ROOT

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Token {TOKEN}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=120) as response:
            text = response.read()
        return json.loads(text) if text.strip() else None

    def raw(self, path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path)
        request.add_header("Authorization", f"Token {TOKEN}")
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()

    def tasks(self, project: int) -> list[dict]:
        return self.call("GET", f"/api/tasks?project={project}&page_size=1000&fields=all")["tasks"]


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    """Label Studio started on 127.0.0.1 with a fresh data folder, stopped at the end."""
    binary = os.environ.get("LL4AL_LABEL_STUDIO") or shutil.which("label-studio")
    if not binary or not Path(binary).is_file():
        message = "Label Studio not found (set LL4AL_LABEL_STUDIO to its label-studio binary)"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: installing it is part of .ci/run)")
        pytest.skip(message)
    base = tmp_path_factory.mktemp("label-studio")
    root = base / "root"
    root.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(base / "data"),
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(root),
        "LABEL_STUDIO_USERNAME": ADMIN,
        "LABEL_STUDIO_PASSWORD": "ci-password-1",
        "LABEL_STUDIO_USER_TOKEN": TOKEN,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        # a model on this machine: Label Studio blocks local addresses by default
        "LABEL_STUDIO_ML_BLOCK_LOCAL_IP": "false",
        "LABEL_STUDIO_SSRF_PROTECTION_ENABLED": "false",
        VALIDATION_FLAG: "true",  # refuse a task file with an invalid prediction
        "SENTRY_DSN": "",
    }
    log_path = base / "label-studio.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [binary, "start", "--no-browser", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    try:
        while True:
            if process.poll() is not None:
                tail = log_path.read_text()[-2000:]
                pytest.fail(f"Label Studio exited with {process.returncode}: {tail}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.perf_counter() - started > 600:
                pytest.fail("Label Studio did not answer /health within 600 s")
            time.sleep(2)
        print(f"Label Studio up after {time.perf_counter() - started:.0f} s")
        yield LabelStudio(url, root)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def backend():
    """``ll4al serve`` in a thread of this process, on a free port; ``start(folder, ...)``."""
    from werkzeug.serving import make_server

    servers = []

    def start(folder: Path, annotators: dict[str, str]) -> str:
        app = create_backend(folder, annotators=annotators, log=quiet)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()


def choice(name: str) -> list[dict]:
    return [
        {"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [name]}}
    ]


def rows(folder: Path) -> dict[str, list[tuple]]:
    """The stored labels and skips, without where they came from (file or webhook)."""
    with sqlite3.connect(folder / "project.sqlite") as db:
        labels = db.execute("SELECT sample, value, annotator, seconds, batch FROM labels")
        skips = db.execute("SELECT batch, sample, annotator, seconds FROM skips")
        return {"labels": sorted(labels.fetchall()), "skips": sorted(skips.fetchall())}


def export(ls: LabelStudio, project: int, path: Path) -> Path:
    path.write_text(json.dumps(ls.call("GET", f"/api/projects/{project}/export?exportType=JSON")))
    return path


def test_classification_round_trip_through_a_real_label_studio(label_studio, backend, tmp_path):
    ls = label_studio
    images = ls.root / "digits"
    export_some_digits(images, 30)
    folder = tmp_path / "project"
    settings = [arg for s in [*TRAINING, "active.subset=100"] for arg in ("--set", s)]
    classes = ",".join(map(str, range(10)))
    init = ["init", str(folder), "--images", str(images), "--classes", classes]
    assert main([*init, "--image-size", "8", "--initial", "4", "--quiet", *settings]) == 0
    assert main(["query", str(folder), "--k", "6", "--quiet"]) == 0
    twin = tmp_path / "twin"  # the same project, fed by exports instead of the webhook
    shutil.copytree(folder, twin)

    users = {u["email"]: u["id"] for u in ls.call("GET", "/api/users/")}
    second = ls.call(
        "POST", "/api/users/", {"email": SECOND, "username": "bo", "password": "b0-pass-123"}
    )
    names = {str(users[ADMIN]): ADMIN, str(second["id"]): SECOND}
    mapping = ",".join(f"{k}={v}" for k, v in names.items())
    model = backend(folder, names)

    recipe = ["labelstudio", str(folder), "--url", ls.url, "--token", TOKEN]
    recipe += ["--document-root", str(ls.root)]
    assert main([*recipe, "--ml-backend", model]) == 0
    project = ls.call("GET", "/api/projects")["results"][0]["id"]
    (connected,) = ls.call("GET", f"/api/ml?project={project}")
    assert connected["readable_state"] == "Connected"
    tasks = sorted(ls.tasks(project), key=lambda t: t["data"]["ll4al_rank"])
    assert len(tasks) == 6
    for task in tasks:  # every image is served, byte for byte
        status, body = ls.raw(task["data"]["image"])
        assert status == 200 and body == (images / task["data"]["ll4al_path"]).read_bytes()

    def annotate(task: dict, result: list, seconds: float, **extra) -> dict:
        body = {"result": result, "lead_time": seconds, **extra}
        return ls.call("POST", f"/api/tasks/{task['id']}/annotations/", body)

    truth = [t["data"]["ll4al_path"].split("/")[0] for t in tasks]
    wrong = str((int(truth[1]) + 1) % 10)
    annotate(tasks[0], [], 2.0, was_cancelled=True)  # cannot be labeled
    mistaken = annotate(tasks[1], choice(wrong), 3.0)
    for task, name in zip(tasks[2:], truth[2:], strict=True):
        annotate(task, choice(name), 4.0)
    annotate(tasks[2], choice(truth[2]), 5.5, completed_by=second["id"])  # a second opinion
    assert (
        main(
            [
                "import",
                str(twin),
                str(export(ls, project, tmp_path / "e1.json")),
                "--annotators",
                mapping,
            ]
        )
        == 0
    )
    # the annotator corrects a label: Label Studio keeps one annotation, its time the total
    ls.call(
        "PATCH",
        f"/api/annotations/{mistaken['id']}/",
        {"result": choice(truth[1]), "lead_time": 10.0},
    )
    assert (
        main(
            [
                "import",
                str(twin),
                str(export(ls, project, tmp_path / "e2.json")),
                "--annotators",
                mapping,
            ]
        )
        == 0
    )

    stored = rows(folder)
    assert stored == rows(twin)  # the webhook and the export give the same store
    samples = [t["data"]["ll4al_id"] for t in tasks]
    assert stored["skips"] == [(1, samples[0], ADMIN, 2.0)]
    corrected = [r for r in stored["labels"] if r[0] == samples[1]]
    assert sorted(corrected) == sorted(
        [
            (samples[1], json.dumps(wrong), ADMIN, 3.0, 1),
            (samples[1], json.dumps(truth[1]), ADMIN, 7.0, 1),  # 10 s in all, counted once
        ]
    )
    assert (samples[2], json.dumps(truth[2]), SECOND, 5.5, 1) in stored["labels"]
    assert sum(r[3] for r in stored["labels"]) == 3 + 7 + 4 * 4 + 5.5

    # the skip does not block the next round; its predictions pass Label Studio's validation
    assert main(["query", str(folder), "--k", "5", "--quiet"]) == 0
    assert main(recipe) == 0
    new = sorted(
        (t for t in ls.tasks(project) if t["data"]["ll4al_id"] not in samples),
        key=lambda t: t["data"]["ll4al_rank"],
    )
    assert len(new) == 5 and all(len(t["predictions"]) == 1 for t in new)
    scores = [t["predictions"][0]["score"] for t in new]
    assert scores == [1.0, 0.8, 0.6, 0.4, 0.2]
    assert main(recipe) == 0  # again: nothing added twice
    assert len(ls.tasks(project)) == 11
    # the validation is on: the raw predicted loss ll4al used to send is refused
    raw = json.loads((folder / "batches" / "batch-002-labelstudio.json").read_text())[:1]
    raw[0]["predictions"][0]["score"] = raw[0]["data"]["ll4al_score"] + 5.0
    with pytest.raises(urllib.error.HTTPError) as refused:
        ls.call("POST", f"/api/projects/{project}/import", raw)
    assert refused.value.code == 400 and "Score must be between" in refused.value.read().decode()


def test_detection_round_trip_through_a_real_label_studio(label_studio, backend, tmp_path):
    from ..project_helpers import make_box_images

    ls = label_studio
    images = ls.root / "smears"
    truth = {b["path"]: b["box"] for b in make_box_images(images, count=6, size=(80, 60))}
    folder = tmp_path / "project"
    init = ["init", str(folder), "--images", str(images), "--task", "detection"]
    init += ["--classes", "cell,debris", "--image-size", "64", "--initial", "3", "--quiet"]
    init += ["--set", "train.epochs=1", "--set", "train.batch_size=4"]
    assert main(init) == 0
    assert main(["query", str(folder), "--k", "3", "--quiet"]) == 0
    twin = tmp_path / "twin"
    shutil.copytree(folder, twin)
    admin = str({u["email"]: u["id"] for u in ls.call("GET", "/api/users/")}[ADMIN])
    model = backend(folder, {admin: ADMIN})
    recipe = ["labelstudio", str(folder), "--url", ls.url, "--token", TOKEN]
    recipe += ["--document-root", str(ls.root), "--title", "smears"]
    assert main([*recipe, "--ml-backend", model]) == 0
    project = next(
        p["id"] for p in ls.call("GET", "/api/projects")["results"] if p["title"] == "smears"
    )
    tasks = ls.tasks(project)
    assert len(tasks) == 3
    for task in tasks:
        status, body = ls.raw(task["data"]["image"])
        assert status == 200 and body == (images / task["data"]["ll4al_path"]).read_bytes()
        region = label_studio_box(truth[task["data"]["ll4al_path"]], "cell", (80, 60), None)
        body = {"result": [region], "lead_time": 6.5}
        ls.call("POST", f"/api/tasks/{task['id']}/annotations/", body)
    exported = export(ls, project, tmp_path / "boxes.json")
    assert main(["import", str(twin), str(exported), "--annotators", f"{admin}={ADMIN}"]) == 0
    stored = rows(folder)
    assert stored == rows(twin) and len(stored["labels"]) == 3
    for sample, value, annotator, seconds, _ in stored["labels"]:
        (box,) = json.loads(value)["boxes"]
        assert box == pytest.approx(truth[sample], abs=1e-6) and seconds == 6.5
        assert annotator == ADMIN
    # a model round on these boxes; its guesses pass Label Studio's validation
    assert main(["query", str(folder), "--k", "2", "--quiet"]) == 0
    assert main(recipe) == 0
    assert len(ls.tasks(project)) == 5
