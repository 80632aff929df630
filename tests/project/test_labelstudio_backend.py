"""``ll4al serve``: the ML backend protocol of Label Studio, answered from the project."""

from __future__ import annotations

import base64
import sqlite3
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("flask")

from ll4al.project.labelstudio_backend import AUTH_ENV, create_backend  # noqa: E402

from .web_helpers import boxes_project, digits_project, quiet, stored_labels  # noqa: E402


@pytest.fixture
def project(tmp_path) -> tuple[Path, list[str]]:
    return digits_project(tmp_path, count=20, batch=10)


def backend(folder: Path, **kwargs):
    app = create_backend(folder, log=quiet, **kwargs)
    app.testing = True
    return app, app.test_client()


def task(sample: str, number: int = 1) -> dict:
    return {"id": number, "data": {"image": f"/data/local-files/?d=x/{sample}", "ll4al_id": sample}}


def event(action: str, sample: str, result: list, **annotation) -> dict:
    body = {"id": 500, "completed_by": 3, "lead_time": 6.0, "result": result}
    return {
        "action": action,
        "project": {"id": 1, "label_config": "<View/>"},
        "task": task(sample),
        "annotation": {**body, **annotation},
    }


def choice(name: str) -> list[dict]:
    return [
        {"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [name]}}
    ]


def test_health_setup_and_predict_answer_in_label_studios_shapes(project):
    folder, order = project
    _, client = backend(folder)
    assert client.get("/health").get_json()["status"] == "UP"
    assert client.get("/").status_code == 200
    setup = client.post("/setup", json={"project": "1.1700000000", "schema": "<View/>"})
    assert setup.get_json() == {"model_version": "round-0-learning-loss"}
    tasks = [task(order[2], 1), task("unknown.png", 2), task(order[0], 3), {"id": 4}]
    results = client.post("/predict", json={"tasks": tasks}).get_json()["results"]
    assert len(results) == 4 and results[1] == {} and results[3] == {}
    third, first = results[0], results[2]
    assert first["score"] == 1.0 and third["score"] == pytest.approx(0.8)  # rank 1 and 3 of 10
    assert first["model_version"] == "round-0-learning-loss"
    assert first["result"][0]["type"] == "choices"
    assert client.post("/predict", json={"tasks": "x"}).status_code == 400


def test_detection_predictions_are_boxes_in_percent(tmp_path):
    folder, order = boxes_project(tmp_path)
    _, client = backend(folder)
    (result,) = client.post("/predict", json={"tasks": [task(order[0])]}).get_json()["results"]
    region = result["result"][0]
    assert region["type"] == "rectanglelabels" and region["original_width"] == 80
    assert 0 <= region["value"]["x"] <= 100 and region["score"] == 0.9


def test_the_webhook_stores_annotations_skips_and_edits_as_import_does(project):
    folder, order = project
    _, client = backend(folder, annotators={"3": "ann@lab.org"})
    first = event("ANNOTATION_CREATED", order[0], choice("9"), lead_time=4.5)
    reply = client.post("/webhook", json=first)
    assert reply.status_code == 201 and reply.get_json()["result"]["labels_added"] == 1
    edited = event("ANNOTATION_UPDATED", order[0], choice(order[0].split("/")[0]), lead_time=10)
    assert client.post("/webhook", json=edited).status_code == 201
    skip = event("ANNOTATION_CREATED", order[1], [], id=501, was_cancelled=True)
    assert client.post("/webhook", json=skip).get_json()["result"]["skips_added"] == 1
    labels = stored_labels(folder)
    assert [(r["annotator"], r["seconds"], r["source"]) for r in labels] == [
        ("ann@lab.org", 4.5, "label-studio"),
        ("ann@lab.org", 5.5, "label-studio"),  # the edit's own time: 10 in all
    ]
    with sqlite3.connect(folder / "project.sqlite") as db:
        assert db.execute("SELECT sample, annotator FROM skips").fetchall() == [
            (order[1], "ann@lab.org")
        ]
    bad = event("ANNOTATION_CREATED", order[2], choice("not a class"))
    reply = client.post("/webhook", json=bad)
    assert reply.status_code == 400 and "not a class" in reply.get_json()["error"]
    other = event("ANNOTATION_CREATED", order[2], choice("1"))
    other["task"]["data"]["ll4al_project"] = "f" * 32
    assert "another ll4al project" in client.post("/webhook", json=other).get_json()["error"]
    deleted = client.post("/webhook", json={"action": "ANNOTATION_DELETED"})
    assert deleted.status_code == 200 and len(stored_labels(folder)) == 2
    assert client.post("/webhook", json={"action": "PROJECT_UPDATED"}).status_code == 200


def test_start_training_waits_for_the_batch_then_runs_a_round_in_the_background(project):
    folder, order = project
    settings = folder / "project.yaml"  # a small network and two epochs: the round is quick
    values = yaml.safe_load(settings.read_text())
    values["model"]["name"], values["train"]["epochs"], values["train_auto"] = "small-cnn", 2, []
    settings.write_text(yaml.safe_dump(values))
    app, client = backend(folder, k=3)
    start = {"action": "START_TRAINING", "project": {"id": 1, "label_config": "<View/>"}}
    said = client.post("/webhook", json=start).get_json()["result"]["training"]
    assert said == "batch 1 still has 10 images to label: the round waits for them"
    for number, sample in enumerate(order):
        answer = event("ANNOTATION_CREATED", sample, choice(sample.split("/")[0]), id=number)
        assert client.post("/webhook", json=answer).status_code == 201
    began = time.perf_counter()
    said = client.post("/webhook", json=start).get_json()["result"]["training"]
    assert said == "round started for a batch of 3"
    assert time.perf_counter() - began < 2  # the webhook does not wait for the round
    assert client.post("/predict", json={"tasks": [task(order[0])]}).status_code == 200
    trainer = app.extensions["ll4al_trainer"]
    trainer.join(timeout=300)
    assert trainer.last_error is None and trainer.rounds == 1
    with sqlite3.connect(folder / "project.sqlite") as db:
        assert db.execute("SELECT id, status FROM batches").fetchall() == [(1, "done"), (2, "open")]
    assert client.post("/setup", json={}).get_json()["model_version"].startswith("round-")


def test_basic_auth_when_asked(project, monkeypatch):
    folder, _ = project
    monkeypatch.setenv(AUTH_ENV, "ls:secret")
    _, client = backend(folder)
    assert client.get("/health").status_code == 401
    good = base64.b64encode(b"ls:secret").decode()
    assert client.get("/health", headers={"Authorization": f"Basic {good}"}).status_code == 200


def test_serve_refuses_a_non_project(tmp_path):
    from ll4al.project.project import ProjectError

    with pytest.raises(ProjectError, match="not an ll4al project"):
        create_backend(tmp_path)
