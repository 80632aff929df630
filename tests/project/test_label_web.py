"""The labeling page over HTTP (Flask's test client): images by id only, CSRF, body limits,
answers stored at once, undo, resume, two tabs, the status page, the ``label`` command."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

import pytest

try:
    import flask  # noqa: F401
except ImportError:
    if os.environ.get("CI"):  # .ci/run installs the web extra: missing is a failure there
        raise
    pytest.skip('the web extra is not installed (pip install -e ".[web]")', allow_module_level=True)

from ll4al.cli import main  # noqa: E402
from ll4al.project.project import Project  # noqa: E402
from ll4al.project.store import NewLabel  # noqa: E402
from ll4al.project.web import create_app  # noqa: E402

from .web_helpers import boxes_project, digits_project, stored_labels  # noqa: E402

NESTED = "7/sub dir/x 1.png"  # an id with a folder and spaces


@pytest.fixture
def project(tmp_path) -> tuple[Path, list[str]]:
    (tmp_path / "secret.txt").write_text("not an image")
    source = tmp_path / "source.png"
    from PIL import Image

    Image.new("L", (8, 8), 200).save(source)
    return digits_project(tmp_path, count=20, batch=10, extra={NESTED: source})


def app_for(folder: Path, annotator: str = "ana", **kwargs):
    app = create_app(folder, annotator, **kwargs)
    app.testing = True
    return app


def post(client, app, path: str, payload, token: str | None = "") -> object:
    headers = {}
    token = app.config["LL4AL_CSRF_TOKEN"] if token == "" else token
    if token is not None:
        headers["X-CSRF-Token"] = token
    return client.post(path, json=payload, headers=headers)


def answer(client, app, sample: str, value, seconds: float = 3.5, batch: int = 1):
    return post(
        client,
        app,
        "/api/label",
        {"batch": batch, "sample": sample, "value": value, "seconds": seconds},
    )


def truth(sample: str) -> str:
    return sample.split("/")[0]


# --- images: by id, through the database only ---------------------------------------------------

_OPENED: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _OPENED is not None and event == "open" and isinstance(args[0], (str, bytes, Path)):
        _OPENED.append(str(args[0]))


sys.addaudithook(_audit)


def test_images_are_served_by_id(project):
    global _OPENED
    folder, order = project
    client = app_for(folder).test_client()
    settings = Project.open(folder)
    root = Path(settings.settings.images)
    settings.close()
    for sample in (order[0], NESTED):
        _OPENED = []
        try:
            response = client.get("/image/" + sample.replace(" ", "%20"))
            opened = list(_OPENED)
        finally:
            _OPENED = None
        assert response.status_code == 200, sample
        assert response.data == (root / sample).read_bytes()
        assert response.mimetype == "image/png"
        assert str(root / sample) in opened  # the audit hook sees what is opened


@pytest.mark.parametrize(
    "url",
    [
        "/image/../secret.txt",
        "/image/%2e%2e/secret.txt",
        "/image/%2E%2E%2Fsecret.txt",
        "/image/0/../../secret.txt",
        "/image/0/%2e%2e/%2e%2e/secret.txt",
        "/image/..%5c..%5csecret.txt",
        "/image//etc/passwd",
        "/image/%2Fetc%2Fpasswd",
        "/image/ABSOLUTE",  # the secret file's absolute path
        "/image/ROOT/0/0000.png",  # a real image, but by absolute path
        "/image/nope.png",
        "/image/UNPROPOSED",  # registered, but in no batch
        "/image/",
    ],
)
def test_path_traversal_and_unknown_ids_are_404_and_read_nothing(project, tmp_path, url):
    global _OPENED
    folder, order = project
    project_ = Project.open(folder)
    root = Path(project_.settings.images)
    proposed = {row["sample"] for row in project_.store.batch_items()}
    unproposed = next(s.id for s in project_.pool_samples() if s.id not in proposed)
    project_.close()
    url = (
        url.replace("ABSOLUTE", str(tmp_path / "secret.txt").lstrip("/"))
        .replace("ROOT", str(root).lstrip("/"))
        .replace("UNPROPOSED", unproposed)
    )
    client = app_for(folder).test_client()
    _OPENED = []
    try:
        response = client.get(url)
        opened = list(_OPENED)
    finally:
        _OPENED = None
    assert response.status_code == 404, url
    assert response.is_json and response.get_json()["error"]
    assert not [p for p in opened if "secret" in p or p.startswith("/etc")]
    assert not [p for p in opened if Path(p).suffix == ".png"]  # no image opened either


# --- POSTs: CSRF token, body size, checked values ------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_a_post_without_the_csrf_token_is_403(project, token):
    folder, order = project
    app = app_for(folder)
    client = app.test_client()
    payload = {"batch": 1, "sample": order[0], "value": truth(order[0]), "seconds": 2}
    headers = {} if token is None else {"X-CSRF-Token": token}
    for path in ("/api/label", "/api/undo"):
        response = client.post(path, json=payload, headers=headers)
        assert response.status_code == 403
        assert "CSRF" in response.get_json()["error"]
    assert stored_labels(folder) == []


def test_the_page_embeds_the_token_and_a_strict_content_policy(project):
    folder, _ = project
    app = app_for(folder)
    response = app.test_client().get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'<meta name="csrf-token" content="{app.config["LL4AL_CSRF_TOKEN"]}">' in page
    assert ">ana<" in page
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # no CDN
    js = app.test_client().get("/static/label.js")
    assert js.status_code == 200 and b"X-CSRF-Token" in js.data


def test_an_oversized_body_is_413(project):
    folder, order = project
    app = app_for(folder)
    client = app.test_client()
    big = {"batch": 1, "sample": order[0], "value": "x" * (80 * 1024), "seconds": 2}
    response = post(client, app, "/api/label", big)
    assert response.status_code == 413
    assert "64 KiB" in response.get_json()["error"]
    assert stored_labels(folder) == []


def test_unknown_ids_classes_and_bad_values_are_4xx_with_a_message(project):
    folder, order = project
    app = app_for(folder)
    client = app.test_client()
    unproposed = "9/nope.png"
    cases = [
        ({"sample": unproposed, "value": "9"}, 404, "not in batch 1"),
        ({"sample": "../secret.txt", "value": "9"}, 404, "not in batch 1"),
        ({"sample": order[0], "value": "9", "batch": 7}, 404, "not in batch 7"),
        ({"sample": order[0], "value": "cat"}, 400, "unknown class 'cat'"),
        ({"sample": order[0], "value": {"boxes": []}}, 400, "expected a class name"),
        ({"sample": order[0], "value": "1", "seconds": 0}, 400, "seconds"),
        ({"sample": order[0], "value": "1", "seconds": -3}, 400, "seconds"),
        ({"sample": order[0], "value": "1", "seconds": "5"}, 400, "seconds"),
        ({"sample": order[0], "value": "1", "seconds": 1e9}, 400, "seconds"),
        ({"sample": order[0], "value": "1", "seconds": True}, 400, "seconds"),
        ({"sample": order[0], "value": "1", "batch": "1"}, 400, "batch"),
        ({"sample": order[0], "value": "1", "batch": 2**70}, 400, "batch"),
        ({"sample": 3, "value": "1"}, 400, "sample"),
    ]
    for fields, code, message in cases:
        payload = {"batch": 1, "seconds": 2.0, **fields}
        response = post(client, app, "/api/label", payload)
        assert response.status_code == code, fields
        assert message in response.get_json()["error"], (fields, response.get_json())
    token = {"X-CSRF-Token": app.config["LL4AL_CSRF_TOKEN"], "Content-Type": "application/json"}
    for body in (
        "not json",
        "[1, 2]",
        json.dumps({"batch": 1, "sample": order[0], "value": "1"})[:-1] + ', "seconds": NaN}',
    ):
        response = client.post("/api/label", data=body, headers=token)
        assert response.status_code == 400 and response.get_json()["error"]
    for label in ("1", 2**64, -1, None):
        response = post(client, app, "/api/undo", {"label": label})
        assert response.status_code == 400 and "label" in response.get_json()["error"]
    assert client.get("/api/nothing").status_code == 404
    assert stored_labels(folder) == []


# --- answers, undo, resume -------------------------------------------------------------------


def test_an_answer_is_stored_at_once_with_annotator_and_seconds(project):
    folder, order = project
    app = app_for(folder, "dr. li")
    client = app.test_client()
    response = answer(client, app, order[0], truth(order[0]), seconds=4.25)
    assert response.status_code == 201
    data = response.get_json()
    assert data["labeled"] == [order[0]] and data["mine"] == [order[0]]
    assert data["history"] == [data["label"]]
    [row] = stored_labels(folder)  # another connection sees it: committed
    assert row["id"] == data["label"]
    assert (row["sample"], row["value"], row["annotator"]) == (order[0], truth(order[0]), "dr. li")
    assert row["seconds"] == 4.25 and row["source"] == "web" and row["batch"] == 1


def test_undo_deletes_only_this_annotators_web_label_and_goes_back(project, tmp_path):
    folder, order = project
    app = app_for(folder)
    client = app.test_client()
    first = answer(client, app, order[0], truth(order[0])).get_json()["label"]
    second = answer(client, app, order[1], "0").get_json()["label"]
    response = post(client, app, "/api/undo", {"label": second})
    assert response.status_code == 200
    data = response.get_json()
    assert (data["sample"], data["value"]) == (order[1], "0")
    assert data["history"] == [first] and data["labeled"] == [order[0]]
    assert [r["id"] for r in stored_labels(folder)] == [first]
    again = post(client, app, "/api/undo", {"label": second})
    assert again.status_code == 404 and "no label" in again.get_json()["error"]

    other = app_for(folder, "bo")  # another annotator's server cannot undo ana's label
    response = post(other.test_client(), other, "/api/undo", {"label": first})
    assert response.status_code == 404
    project_ = Project.open(folder)  # nor a label imported from a file, even ana's own
    with project_.store.transaction() as db:
        project_.store.add_label(db, NewLabel(order[2], "5", "ana", 9.0, "a.csv", 1))
    imported = project_.store.labels()[-1]["id"]
    project_.close()
    assert post(client, app, "/api/undo", {"label": imported}).status_code == 404
    assert [r["id"] for r in stored_labels(folder)] == [first, imported]


def test_undo_opens_a_batch_its_answer_had_finished(project):
    folder, order = project
    app = app_for(folder)
    client = app.test_client()
    ids = [answer(client, app, s, "1").get_json()["label"] for s in order]

    def batch_status():
        with sqlite3.connect(folder / "project.sqlite") as db:
            return db.execute("SELECT status FROM batches WHERE id = 1").fetchone()[0]

    assert batch_status() == "done"
    assert post(client, app, "/api/undo", {"label": ids[-1]}).status_code == 200
    assert batch_status() == "open"


def test_reopening_resumes_at_the_first_unanswered_image(project):
    folder, order = project
    app = app_for(folder)
    client = app.test_client()
    state = client.get("/api/state").get_json()
    assert [i["sample"] for i in state["items"]] == order
    assert state["resume"] == order[0] and state["batch"]["id"] == 1
    assert state["items"][0]["guess"] is not None and state["items"][0]["score"] == 2.0
    for sample in (order[0], order[1], order[3]):  # order[2] skipped
        assert answer(client, app, sample, truth(sample)).status_code == 201
    reopened = app_for(folder).test_client()  # a restarted server, a new tab
    state = reopened.get("/api/state").get_json()
    assert state["resume"] == order[2]
    assert sum(i["labeled"] for i in state["items"]) == 3
    assert len(state["history"]) == 3  # undo still works after a reload

    # a second annotator resumes where the batch is (images nobody labeled) or, asking for a
    # second opinion, at their own first unanswered image
    other = app_for(folder, "bo").test_client()
    assert other.get("/api/state").get_json()["resume"] == order[2]
    second = other.get("/api/state?mode=mine").get_json()
    assert second["resume"] == order[0] and second["history"] == []


def test_two_tabs_answering_the_same_image_both_keep_their_answer(project):
    folder, order = project
    app = app_for(folder)
    tab1, tab2 = app.test_client(), app.test_client()
    assert tab1.get("/api/state").get_json()["resume"] == order[0]
    assert tab2.get("/api/state").get_json()["resume"] == order[0]
    one = answer(tab1, app, order[0], "3", seconds=2.0)
    two = answer(tab2, app, order[0], "8", seconds=5.0)
    assert one.status_code == two.status_code == 201
    rows = stored_labels(folder)
    assert [(r["sample"], r["value"], r["seconds"]) for r in rows] == [
        (order[0], "3", 2.0),
        (order[0], "8", 5.0),
    ]
    # the same answer twice is one annotation: kept as it was, said so, nothing lost
    same = answer(tab1, app, order[0], "8", seconds=1.0)
    assert same.status_code == 200 and same.get_json()["label"] is None
    assert "already" in same.get_json()["message"]
    assert len(stored_labels(folder)) == 2
    # and two annotators' servers on one project both store theirs
    bo = app_for(folder, "bo")
    assert answer(bo.test_client(), bo, order[0], "8").status_code == 201
    assert {r["annotator"] for r in stored_labels(folder)} == {"ana", "bo"}


def test_a_foreign_host_name_is_refused_when_serving_on_loopback(project):
    folder, _ = project
    client = app_for(folder, trusted_hosts=["127.0.0.1", "localhost"]).test_client()
    assert client.get("/", headers={"Host": "127.0.0.1:8765"}).status_code == 200
    assert client.get("/", headers={"Host": "rebound.example:8765"}).status_code == 400


def test_serving_on_ipv6_loopback_keeps_the_host_check(project, monkeypatch):
    import werkzeug.serving

    folder, _ = project
    monkeypatch.setattr(werkzeug.serving, "make_server", FakeServer)
    assert main(["label", str(folder), "--host", "::1", "--port", "8799"]) == 0
    client = FakeServer.made[2].test_client()
    assert client.get("/", headers={"Host": "[::1]:8799"}).status_code == 200
    assert client.get("/", headers={"Host": "localhost:8799"}).status_code == 200
    assert client.get("/", headers={"Host": "rebound.example:8799"}).status_code == 400


# --- detection -----------------------------------------------------------------------------------


def test_detection_boxes_are_checked_and_stored(tmp_path):
    folder, order = boxes_project(tmp_path)
    app = app_for(folder)
    client = app.test_client()
    state = client.get("/api/state").get_json()
    assert state["task"] == "detection" and state["items"][0]["guess"]["labels"] == ["cell"]
    good = {"boxes": [[1.5, 2, 30, 20.5]], "labels": ["debris"]}
    assert answer(client, app, order[0], good).status_code == 201
    assert answer(client, app, order[1], {"boxes": [], "labels": []}).status_code == 201
    for bad, message in [
        ({"boxes": [[0, 0, 500, 10]], "labels": ["cell"]}, "outside the 80x60 image"),
        ({"boxes": [["a", 0, 5, 5]], "labels": ["cell"]}, "4 numbers"),
        ({"boxes": [[0, 0, 5]], "labels": ["cell"]}, "4 numbers"),
        ({"boxes": "0,0,5,5", "labels": ["cell"]}, "lists"),
        ({"boxes": [[0, 0, 5, 5]], "labels": [1]}, "class names"),
        ({"boxes": [[0, 0, 5, 5]], "labels": ["dog"]}, "unknown class 'dog'"),
        ("cell", "expected boxes and labels"),
    ]:
        response = answer(client, app, order[2], bad)
        assert response.status_code == 400, bad
        assert message in response.get_json()["error"]
    assert [r["value"] for r in stored_labels(folder)] == [good, {"boxes": [], "labels": []}]


# --- status --------------------------------------------------------------------------------------


def test_the_status_page_and_learning_curve(project):
    folder, order = project
    app = app_for(folder)
    client = app.test_client()
    answer(client, app, order[0], truth(order[0]), seconds=30)
    info = client.get("/api/status").get_json()
    assert info["labels"] == 1 and info["per_class"][truth(order[0])] == 1
    assert info["annotators"] == [{"annotator": "ana", "labels": 1, "seconds": 30.0}]
    assert info["money"] == 1.5 and info["batches"][0]["labeled"] == 1
    page = client.get("/status").get_data(as_text=True)
    assert "Labels per class" in page and "No round evaluated yet" in page
    project_ = Project.open(folder)
    project_.store.save_round(0, 30, "d0", "round-000.pt", {"accuracy": 0.61}, 12.0)
    project_.store.save_round(1, 50, "d1", "round-001.pt", {"accuracy": 0.74}, 15.0)
    project_.close()
    page = client.get("/status").get_data(as_text=True)
    assert 'src="/status/curve.png"' in page and "0.7400" in page
    png = client.get("/status/curve.png")
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")


def test_a_project_without_a_batch_says_what_to_run(tmp_path):
    folder, _ = digits_project(tmp_path, count=10, batch=3)
    with sqlite3.connect(folder / "project.sqlite") as db:
        db.execute("DELETE FROM batch_items")
        db.execute("DELETE FROM batches")
    state = app_for(folder).test_client().get("/api/state").get_json()
    assert state["batch"] is None and state["resume"] is None
    assert state["next_step"].startswith("ll4al query")


# --- the command ---------------------------------------------------------------------------------


class FakeServer:
    def __init__(self, host, port, app, threaded):
        FakeServer.made = (host, port, app)
        self.server_port = port

    def serve_forever(self):
        raise KeyboardInterrupt

    def server_close(self):
        pass


def test_ll4al_label_serves_on_loopback_and_warns_elsewhere(project, monkeypatch, capsys):
    import werkzeug.serving

    folder, _ = project
    monkeypatch.setattr(werkzeug.serving, "make_server", FakeServer)
    assert main(["label", str(folder), "--annotator", "ana", "--port", "8799"]) == 0
    host, port, app = FakeServer.made
    assert (host, port, app.config["LL4AL_ANNOTATOR"]) == ("127.0.0.1", 8799, "ana")
    assert app.config["LL4AL_TRUSTED_HOSTS"] == ["127.0.0.1", "localhost"]
    out, err = capsys.readouterr()
    assert "http://127.0.0.1:8799/" in out and "batch 1, 0/11 labeled" in out
    assert "warning" not in err

    assert main(["label", str(folder), "--host", "0.0.0.0"]) == 0
    assert (
        FakeServer.made[0] == "0.0.0.0" and FakeServer.made[2].config["LL4AL_TRUSTED_HOSTS"] is None
    )
    err = capsys.readouterr().err
    assert err.startswith("ll4al: warning: serving on 0.0.0.0") and len(err.splitlines()) == 1


def test_ll4al_label_refuses_a_non_project_and_a_blank_annotator(tmp_path, project, capsys):
    assert main(["label", str(tmp_path / "nothing")]) == 2
    assert "not an ll4al project" in capsys.readouterr().err
    assert main(["label", str(project[0]), "--annotator", "  "]) == 2
    assert "--annotator" in capsys.readouterr().err


def test_ll4al_label_without_flask_says_how_to_install_it(project, monkeypatch, capsys):
    for name in [m for m in sys.modules if m.startswith("ll4al.project.web")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "flask", None)
    assert main(["label", str(project[0])]) == 2
    err = capsys.readouterr().err.strip()
    assert err == 'll4al: error: `ll4al label` needs Flask: pip install "ll4al[web]"'


def test_the_web_files_install_as_package_data():
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["ll4al"]
    package = Path(__file__).parents[2] / "src" / "ll4al"
    web_files = [
        p.relative_to(package)
        for p in (package / "project" / "web").rglob("*")
        if p.is_file() and p.suffix in (".html", ".js", ".css")
    ]
    assert len(web_files) >= 4
    assert all(any(f.match(pattern) for pattern in patterns) for f in web_files)
    assert json.loads(json.dumps(pyproject["project"]["optional-dependencies"]["web"])) == [
        "flask>=3"
    ]


def test_cannot_be_labeled_closes_the_image_for_the_batch(project):
    folder, order = project
    app = app_for(folder)
    client = app.test_client()
    for sample in order[1:]:
        assert answer(client, app, sample, truth(sample)).status_code == 201
    payload = {"batch": 1, "sample": order[0], "seconds": 2.0}
    reply = post(client, app, "/api/cannot-label", payload)
    assert reply.status_code == 201 and reply.get_json()["skipped"] == [order[0]]
    assert post(client, app, "/api/cannot-label", payload).status_code == 200  # once only
    with sqlite3.connect(folder / "project.sqlite") as db:
        assert db.execute("SELECT status FROM batches WHERE id = 1").fetchone()[0] == "done"
        skips = db.execute("SELECT batch, sample, annotator, seconds, source FROM skips")
        assert skips.fetchall() == [(1, order[0], "ana", 2.0, "web")]
    state = client.get("/api/state").get_json()
    assert state["resume"] is None and state["items"][0]["skipped"] is True
    bad = {"batch": 1, "sample": "nope.png", "seconds": 2.0}
    assert post(client, app, "/api/cannot-label", bad).status_code == 404
    assert post(client, app, "/api/cannot-label", {**payload, "seconds": -1}).status_code == 400
