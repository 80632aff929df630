"""``ll4al serve``: the project as a Label Studio ML backend.

Label Studio's "Connect model" talks to it with the ML backend protocol of the
``label-studio-ml`` package:

- ``GET /health`` (and ``GET /``): ``{"status": "UP", "model_class": "ll4al"}``.
- ``POST /setup`` ``{"project", "schema", ...}``: ``{"model_version": ...}``, the round and
  strategy of the latest batch.
- ``POST /predict`` ``{"tasks": [...]}``: ``{"results": [prediction, ...]}``, one per task in
  order: the model's guess stored with the batch that proposed the image, scored by its place
  in that batch (1 for the first pick); ``{}`` for an image no batch proposed with a guess.
- ``POST /train`` ``{"annotations": [task, ...]}``: what Label Studio sends on "Start
  training" unless its webhook flag is on: every annotated task is stored as an export would
  be, then a round starts as on ``START_TRAINING``.
- ``POST /webhook`` ``{"action", "task", "annotation", ...}``: ``ANNOTATION_CREATED`` and
  ``ANNOTATION_UPDATED`` store the annotation through ``store_records``, the step ``ll4al
  import`` takes (a skip closes the image for its batch; an edit counts only its new time);
  ``START_TRAINING``, or ``--train-after`` labels stored here, starts the next round in the
  background (``ll4al query``, then its tasks go to Label Studio where ``--url`` is given),
  once the batch is done. ``ANNOTATION_DELETED`` changes nothing: labels are never deleted.

A request is answered from the project's database, never waiting for a round: training runs
in another process. Where ``LL4AL_BACKEND_AUTH=user:password`` is set, every request must
carry it as HTTP basic auth (Label Studio's "Use basic auth" on the model's connection).
"""

from __future__ import annotations

import hmac
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, jsonify, request

from ll4al.project.formats import LabelFileError
from ll4al.project.label_import import store_records
from ll4al.project.labelstudio import (
    export_records,
    model_version,
    prediction,
    task_key,
    webhook_record,
)
from ll4al.project.project import Project, ProjectError

Log = Callable[[str], None]
AUTH_ENV = "LL4AL_BACKEND_AUTH"
LABEL_EVENTS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")
SOURCE = "label-studio"


class Trainer:
    """At most one round at a time, in a child process (``ll4al query``), so /predict and
    /webhook never wait for it; ``after`` runs when it succeeded (e.g. push its tasks)."""

    def __init__(self, folder: Path, k: int | None, log: Log, after: Callable[[], None]) -> None:
        self.folder, self.k, self.log, self.after = folder, k, log, after
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.new_labels = 0
        self.rounds = 0  # rounds this server finished
        self.last_error: str | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, k: int) -> bool:
        """Start a round unless one is running; False when one was."""
        with self.lock:
            if self.running:
                return False
            self.new_labels = 0
            self.thread = threading.Thread(target=self._run, args=(k,), daemon=True)
            self.thread.start()
            return True

    def _run(self, k: int) -> None:
        command = [sys.executable, "-m", "ll4al", "query", str(self.folder), "--k", str(k)]
        command.append("--quiet")
        log_path = self.folder / "logs" / "serve-rounds.log"
        log_path.parent.mkdir(exist_ok=True)
        self.log(f"round started: {' '.join(command[2:])} (output in {log_path})")
        with log_path.open("a", encoding="utf-8") as out:
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
        if done.returncode != 0:
            self.last_error = f"ll4al query exited with {done.returncode}; see {log_path}"
            self.log(f"round failed: {self.last_error}")
            return
        self.rounds += 1
        self.last_error = None
        self.log("round finished: the next batch is written")
        try:
            self.after()
        except ProjectError as err:
            self.last_error = str(err)
            self.log(f"the new batch was not sent to Label Studio: {err}")

    def join(self, timeout: float | None = None) -> None:
        if self.thread is not None:
            self.thread.join(timeout)


def create_backend(
    folder: str | Path,
    train_after: int | None = None,
    k: int | None = None,
    annotators: dict[str, str] | None = None,
    after_round: Callable[[], None] | None = None,
    log: Log = print,
) -> Flask:
    """The backend's Flask app for the project in ``folder``.

    ``train_after``: start a round once this many new labels came through the webhook and
    the batch is done (None: only on ``START_TRAINING``); ``k``: the size of the batch a
    round proposes (default: the latest batch's); ``annotators``: Label Studio user ids to
    names, as ``ll4al import --annotators``; ``after_round``: run after a round finishes."""
    folder = Path(folder)
    Project.open(folder).close()  # not a project: the usual one-line error, before serving
    app = Flask(__name__)
    trainer = Trainer(folder, k, log, after_round or (lambda: None))
    app.extensions["ll4al_trainer"] = trainer
    auth = os.environ.get(AUTH_ENV)

    def project() -> Project:
        if "project" not in g:
            g.project = Project.open(folder, check=False)  # checked when serving began
        return g.project

    @app.teardown_appcontext
    def close(_error: BaseException | None) -> None:
        opened = g.pop("project", None)
        if opened is not None:
            opened.close()

    @app.before_request
    def check_auth() -> Response | None:
        if not auth:
            return None
        given = request.authorization
        user, _, password = auth.partition(":")
        if (
            given is None
            or not hmac.compare_digest(given.username or "", user)
            or not hmac.compare_digest(given.password or "", password)
        ):
            return Response("unauthorized", 401, {"WWW-Authenticate": 'Basic realm="ll4al"'})
        return None

    def health():
        return jsonify(status="UP", model_class="ll4al", training=trainer.running)

    def setup():
        return jsonify(model_version=_version(project()))

    def predict():
        body = request.get_json(silent=True) or {}
        tasks = body.get("tasks")
        if not isinstance(tasks, list):
            return jsonify(error="'tasks' must be a list of tasks"), 400
        return jsonify(results=predictions(project(), tasks))

    def webhook():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return jsonify(error="the body must be a JSON object"), 400
        action = body.get("action")
        opened = project()
        if action in LABEL_EVENTS:
            try:
                record = webhook_record(body, opened.settings.task, SOURCE)
                stored = store_records(opened, [record], SOURCE, annotators=annotators)
            except (LabelFileError, ProjectError, ValueError) as err:
                log(f"webhook {action} refused: {err}")
                return jsonify(status="error", error=str(err)), 400
            trainer.new_labels += stored.added
            result: dict[str, Any] = {
                "labels_added": stored.added,
                "skips_added": stored.skipped,
            }
            if train_after and trainer.new_labels >= train_after:
                result["training"] = _train(opened, trainer, k)
            return jsonify(status="ok", result=result), 201
        if action == "START_TRAINING":
            return jsonify(status="ok", result={"training": _train(opened, trainer, k)}), 201
        if action == "ANNOTATION_DELETED":
            return jsonify(status="ok", result="ll4al keeps every label; nothing deleted"), 200
        return jsonify(status="Unknown event"), 200

    def train():
        """Label Studio's "Start training" without its webhook flag: every annotated task
        comes along; they are stored as an import would, then a round starts."""
        body = request.get_json(silent=True)
        tasks = body.get("annotations") if isinstance(body, dict) else None
        opened = project()
        try:
            records = export_records(tasks, opened.settings.task, SOURCE)
            stored = store_records(opened, records, SOURCE, annotators=annotators)
        except (LabelFileError, ProjectError, ValueError) as err:
            log(f"train refused: {err}")
            return jsonify(status="error", error=str(err)), 400
        trainer.new_labels += stored.added
        result = {"labels_added": stored.added, "skips_added": stored.skipped}
        return jsonify(status="ok", result={**result, "training": _train(opened, trainer, k)}), 201

    for rule, view, method in (
        ("/train", train, "POST"),
        ("/", health, "GET"),
        ("/health", health, "GET"),
        ("/setup", setup, "POST"),
        ("/predict", predict, "POST"),
        ("/webhook", webhook, "POST"),
    ):
        app.add_url_rule(rule, view.__name__, view, methods=[method])
    return app


def _version(project: Project) -> str:
    batches = project.store.batches()
    return "none" if not batches else model_version(batches[-1]["round"], batches[-1]["strategy"])


def predictions(project: Project, tasks: list[Any]) -> list[dict[str, Any]]:
    """One prediction per task, in order: the stored guess of the latest batch that proposed
    its image, scored by its rank there; ``{}`` where there is none."""
    store = project.store
    batches = {b["id"]: b for b in store.batches()}
    items = {row["sample"]: row for row in store.batch_items()}  # the latest batch wins
    samples = {s.id: s for s in project.pool_samples()}
    answers: list[dict[str, Any]] = []
    for number, task in enumerate(tasks):
        item = None
        if isinstance(task, dict) and isinstance(task.get("data"), dict):
            try:
                item = items.get(task_key(task["data"], "predict", f"task {number + 1}"))
            except LabelFileError:
                item = None
        if item is None or item["guess"] is None or item["sample"] not in samples:
            answers.append({})
            continue
        sample, batch = samples[item["sample"]], batches[item["batch"]]
        version = model_version(batch["round"], batch["strategy"])
        size = (sample.width, sample.height)
        guess = json.loads(item["guess"])
        task_type = project.settings.task
        answers.append(prediction(guess, task_type, size, item["rank"], batch["size"], version))
    return answers


def _train(project: Project, trainer: Trainer, k: int | None) -> str:
    """Start the next round if the batch is done; what happened, in words."""
    batches = project.store.batches()
    open_batches = [b for b in batches if b["labeled"] + b["skipped"] < b["size"]]
    if trainer.running:
        return "a round is already running"
    if open_batches:
        b = open_batches[0]
        todo = b["size"] - b["labeled"] - b["skipped"]
        return f"batch {b['id']} still has {todo} images to label: the round waits for them"
    size = k or (batches[-1]["size"] if batches else 100)
    trainer.start(size)
    return f"round started for a batch of {size}"


def serve_backend(app: Flask, host: str, port: int, log: Log = print) -> None:
    """Serve until Ctrl-C (threaded: /predict never waits for a webhook or a round)."""
    from werkzeug.serving import make_server

    try:
        server = make_server(host, port, app, threaded=True)
    except (OSError, SystemExit) as err:
        raise ProjectError(f"cannot serve on {host}:{port}: {err}; try another --port") from None
    log(f"ML backend for Label Studio at http://{host}:{server.server_port} (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
