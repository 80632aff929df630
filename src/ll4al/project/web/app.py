"""The labeling page's application: the page, a small JSON API, images by sample id, status.

Routes (every POST needs the server's CSRF token in the ``X-CSRF-Token`` header; every error
is JSON ``{"error": message}``):

- ``GET /``: the labeling page; ``?mode=mine`` asks for the images without a label from this
  annotator (a second opinion) instead of the images without any label.
- ``GET /api/state``: the batch on the page (the first unfinished one, else the latest),
  its items with the model's guesses and who labeled them, where to resume, and this
  annotator's labels from the page (for undo).
- ``POST /api/label`` ``{"batch", "sample", "value", "seconds"}``: store one label at once
  (``source = "web"``); an answer is always an insert, so two tabs never overwrite each other.
- ``POST /api/undo`` ``{"label": id}``: delete a label this annotator gave through the page.
- ``GET /image/<sample id>``: the image, found through the database only: the id must be a
  sample some batch proposed, and the file opened is the image root joined with the stored
  id, never with text from the request. DICOM, 16-bit, float and TIFF images come as the PNG
  the model trains on (the project's intensity mapping; ``?window=<name>`` another one, the
  page's W key), so no DICOM tag ever reaches the page.
- ``GET /status``, ``/api/status``, ``/status/curve.png``: what ``ll4al status`` reports, and
  the learning curve of the rounds so far.
"""

from __future__ import annotations

import contextlib
import getpass
import hmac
import io
import ipaddress
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from flask import Flask, abort, current_app, g, jsonify, render_template, request, send_file
from werkzeug.exceptions import HTTPException

from ll4al.data.dicom import split_frame
from ll4al.data.intensity import MAPPINGS, mapped_image, needs_mapping, png_bytes
from ll4al.project.accept import accept_labels, finite_number, label_problem
from ll4al.project.formats import MAX_SECONDS, show
from ll4al.project.project import Project, ProjectError
from ll4al.project.settings import ProjectSettings
from ll4al.project.status import describe_next_batch, status
from ll4al.project.store import NewLabel, Store
from ll4al.tasks.labels import BoxLabels, ClassLabels

#: The largest request body accepted: an answer is a few hundred bytes, boxes a few KiB.
MAX_BODY = 64 * 1024
#: Longest time one answer may claim (a day): anything more is a broken clock.
CSRF_HEADER = "X-CSRF-Token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
BROWSER_UNREADABLE = (".tif", ".tiff")  # converted to PNG when served

Log = Callable[[str], None]


def default_annotator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "annotator"


def create_app(
    project_folder: str | Path, annotator: str, trusted_hosts: list[str] | None = None
) -> Flask:
    """The labeling page of the project at ``project_folder``; every label it stores carries
    ``annotator``. ``trusted_hosts``: the only ``Host`` names answered (``serve`` passes the
    loopback names when it listens on loopback, which stops DNS rebinding); None: any."""
    folder = Path(project_folder)
    project = Project.open(folder)
    settings, kind = project.settings, project.labels
    project.close()
    annotator = annotator.strip()
    if not annotator or len(annotator) > 100:
        raise ProjectError("--annotator needs a name of 1 to 100 characters")
    token = secrets.token_urlsafe(32)

    app = Flask(__name__)
    app.url_map.merge_slashes = False  # "//etc/passwd" is an unknown id, not a redirect
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY,
        LL4AL_TRUSTED_HOSTS=trusted_hosts,  # check_host; werkzeug's cannot name ::1
        LL4AL_CSRF_TOKEN=token,
        LL4AL_ANNOTATOR=annotator,
    )
    app.json.sort_keys = False
    app.extensions["ll4al"] = Page(folder, settings, kind, annotator, token)
    app.teardown_appcontext(close_store)
    app.before_request(check_host)
    app.before_request(check_csrf_token)
    app.after_request(security_headers)
    app.register_error_handler(HTTPException, as_json)
    for rule, view, method in ROUTES:
        app.add_url_rule(rule, view_func=view, methods=[method])
    return app


@dataclass(frozen=True)
class Page:
    """What every request of one labeling page works from (``create_app`` makes it)."""

    folder: Path
    settings: ProjectSettings
    kind: ClassLabels | BoxLabels
    annotator: str
    token: str

    @property
    def root(self) -> Path:
        return Path(self.settings.images)

    @property
    def metric(self) -> str:
        return self.kind.metric_name


def _page() -> Page:
    return current_app.extensions["ll4al"]


def _store() -> Store:
    """This request's connection (sqlite3 connections stay in their thread)."""
    if "store" not in g:
        g.store = Store(_page().folder, check=False)  # checked when the page started
    return g.store


def close_store(_error: BaseException | None) -> None:
    opened = g.pop("store", None)
    if opened is not None:
        opened.close()


def check_host() -> None:
    """Answer only requests addressed to a trusted name (``LL4AL_TRUSTED_HOSTS``; None:
    any), so a page whose DNS name is re-pointed at this machine gets 400; the port is
    ignored, an IPv6 address is written ``[::1]:port``."""
    trusted = current_app.config["LL4AL_TRUSTED_HOSTS"]
    if trusted is None:
        return
    host = request.headers.get("Host", "").lower()
    name = host[1 : host.find("]")] if host.startswith("[") else host.rsplit(":", 1)[0]
    if name not in trusted:
        abort(400, f"this page answers only {', '.join(trusted)}, not {show(host, 40)}")


def check_csrf_token() -> None:
    page = _page()
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), page.token.encode()):
        abort(403, "missing or wrong CSRF token: reload the page")


def security_headers(response):
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def as_json(err: HTTPException):
    message = err.description
    if err.code == 413:
        message = f"request body over {MAX_BODY // 1024} KiB"
    return jsonify(error=message), err.code


# --- the labeling page -------------------------------------------------------------------


def label_page():
    page = _page()
    return render_template(
        "label.html",
        name=page.settings.name,
        annotator=page.annotator,
        task=page.settings.task,
        token=page.token,
    )


def favicon():
    return "", 204


def state():
    page = _page()
    mode = "mine" if request.args.get("mode") == "mine" else "batch"
    return jsonify(page_state(_store(), page.annotator, page.settings, page.folder, mode))


def add_label():
    page = _page()
    body = _json_body()
    batch_id, sample_id = body.get("batch"), body.get("sample")
    value, seconds = body.get("value"), body.get("seconds")
    if not _row_id(batch_id):
        abort(400, "'batch' must be a batch id")
    if not isinstance(sample_id, str):
        abort(400, "'sample' must be an image id")
    db = _store()
    item = next((i for i in db.batch_items(batch_id) if i["sample"] == sample_id), None)
    if item is None:
        abort(404, f"image {sample_id!r} is not in batch {batch_id}")
    sample = db.proposed_sample(sample_id)
    problem = label_problem(page.kind, sample, value)
    if problem:
        abort(400, problem)
    if not finite_number(seconds) or not 0 < seconds <= MAX_SECONDS:
        abort(400, f"'seconds' must be a number of seconds in (0, {MAX_SECONDS:.0f}]")
    label = NewLabel(sample_id, value, page.annotator, float(seconds), "web", batch_id)
    with db.transaction() as tx:
        (label_id,) = accept_labels(db, tx, page.kind, [(sample, label)])
    answer = {"label": label_id, "sample": sample_id, **_progress(db, batch_id, page.annotator)}
    if label_id is None:
        answer["message"] = f"{page.annotator} already gave {sample_id} this label; kept as it was"
    return jsonify(answer), 201 if label_id is not None else 200


def cannot_label():
    """The annotator cannot label this image ("cannot be labeled"): a skip that closes the
    image for this batch, as a Label Studio skip imported does."""
    page = _page()
    body = _json_body()
    batch_id, sample_id, seconds = body.get("batch"), body.get("sample"), body.get("seconds")
    if not _row_id(batch_id):
        abort(400, "'batch' must be a batch id")
    if not isinstance(sample_id, str):
        abort(400, "'sample' must be an image id")
    if not finite_number(seconds) or not 0 < seconds <= MAX_SECONDS:
        abort(400, f"'seconds' must be a number of seconds in (0, {MAX_SECONDS:.0f}]")
    db = _store()
    if not any(i["sample"] == sample_id for i in db.batch_items(batch_id)):
        abort(404, f"image {sample_id!r} is not in batch {batch_id}")
    with db.transaction() as tx:
        added = db.add_skip(tx, batch_id, sample_id, page.annotator, float(seconds), "web")
        db.close_finished_batches(tx)
    return jsonify({"sample": sample_id, **_progress(db, batch_id, page.annotator)}), (
        201 if added else 200
    )


def undo():
    page = _page()
    label_id = _json_body().get("label")
    if not _row_id(label_id):
        abort(400, "'label' must be a label id")
    db = _store()
    with db.transaction() as tx:
        row = db.delete_web_label(tx, label_id, page.annotator)
    if row is None:
        abort(404, f"no label {label_id} given by {page.annotator} on this page to undo")
    result = {"label": label_id, "sample": row["sample"], "value": json.loads(row["value"])}
    if row["batch"] is not None:
        result.update(_progress(db, row["batch"], page.annotator))
    return jsonify(result)


def image(sample_id: str):
    page = _page()
    sample = _store().proposed_sample(sample_id)
    if sample is None:
        abort(404, "no such image in this project's batches")
    stored = PurePosixPath(sample.id)  # the database's id, not the request's text
    if stored.is_absolute() or ".." in stored.parts:
        abort(404, "no such image in this project's batches")
    file, frame = split_frame(sample.id)
    path = page.root.joinpath(*PurePosixPath(file).parts)
    if not path.is_file():
        abort(404, f"image file {file} is missing under the image folder")
    mapping = request.args.get("window", page.settings.intensity)
    if mapping not in MAPPINGS:
        abort(400, f"unknown window {mapping!r}; choose from {', '.join(MAPPINGS)}")
    if frame is not None or path.suffix.lower() in BROWSER_UNREADABLE or needs_mapping(path):
        shown = mapped_image(page.root.joinpath(*stored.parts), mapping)
        return send_file(png_bytes(shown), mimetype="image/png")
    return send_file(path, conditional=True, max_age=3600)


# --- status ----------------------------------------------------------------------------


def project_status() -> dict[str, Any]:
    page = _page()
    project = Project(page.folder, page.settings, _store())
    info = status(project)
    info["annotators"] = _annotators(_store())
    info["rounds"] = _rounds(_store(), page.metric)
    return info


def status_json():
    return jsonify(project_status())


def status_page():
    page = _page()
    info = project_status()
    return render_template(
        "status.html",
        name=page.settings.name,
        annotator=page.annotator,
        info=info,
        settings=page.settings,
        metric=page.metric,
        curve=any(r["metric"] is not None for r in info["rounds"]),
        next_lines=describe_next_batch(info) if info["last_round"] else [],
    )


def curve():
    page = _page()
    png = learning_curve_png(_rounds(_store(), page.metric), page.metric)
    response = send_file(io.BytesIO(png), mimetype="image/png")
    response.headers["Cache-Control"] = "no-store"
    return response


#: Every route of the page: rule, view function (the endpoint keeps its name), method.
ROUTES = (
    ("/", label_page, "GET"),
    ("/favicon.ico", favicon, "GET"),
    ("/api/state", state, "GET"),
    ("/api/label", add_label, "POST"),
    ("/api/undo", undo, "POST"),
    ("/api/cannot-label", cannot_label, "POST"),
    ("/image/<path:sample_id>", image, "GET"),
    ("/api/status", status_json, "GET"),
    ("/status", status_page, "GET"),
    ("/status/curve.png", curve, "GET"),
)


# --- the page's state --------------------------------------------------------------------


def page_state(
    store: Store, annotator: str, settings: Any, folder: Path, mode: str
) -> dict[str, Any]:
    """Everything the page needs to show a batch and resume it."""
    common = {
        "annotator": annotator,
        "task": settings.task,
        "classes": list(settings.classes),
        "mode": mode,
        "windows": list(MAPPINGS),  # what the W key steps through
    }
    batches = store.batches()
    if not batches:
        return {
            **common,
            "batch": None,
            "items": [],
            "resume": None,
            "history": [],
            "next_step": f"ll4al query {folder} --k 100",
        }
    unfinished = [b for b in batches if b["labeled"] + b["skipped"] < b["size"]]
    batch = unfinished[0] if unfinished else batches[-1]
    sizes = {s.id: s for s in store.samples()}
    progress = _progress(store, batch["id"], annotator)
    labeled, mine = set(progress["labeled"]), set(progress["mine"])
    skipped, skipped_mine = set(progress["skipped"]), set(progress["skipped_mine"])
    items = [
        {
            "sample": row["sample"],
            "rank": row["rank"],
            "score": row["score"],
            "guess": None if row["guess"] is None else json.loads(row["guess"]),
            "width": sizes[row["sample"]].width if row["sample"] in sizes else None,
            "height": sizes[row["sample"]].height if row["sample"] in sizes else None,
            "labeled": row["sample"] in labeled,
            "mine": row["sample"] in mine,
            "skipped": row["sample"] in skipped,
            "skipped_mine": row["sample"] in skipped_mine,
        }
        for row in store.batch_items(batch["id"])
    ]
    done = mine | skipped_mine if mode == "mine" else labeled | skipped
    resume = next((i["sample"] for i in items if i["sample"] not in done), None)
    return {
        **common,
        "batch": {
            "id": batch["id"],
            "size": batch["size"],
            "strategy": batch["strategy"],
            "round": batch["round"],
            "created": batch["created"],
        },
        "items": items,
        "resume": resume,
        **progress,
        "next_step": f"ll4al query {folder} --k {batch['size']}",
    }


def _progress(store: Store, batch_id: int, annotator: str) -> dict[str, Any]:
    """Who labeled what in a batch: samples with any label, samples with this annotator's
    label, samples someone (this annotator) could not label in it, and this annotator's
    labels from the page (oldest first: the undo history)."""
    rows = store.labels_in_batch(batch_id)
    skips = [k for k in store.skips() if k["batch"] == batch_id]
    return {
        "skipped": sorted({k["sample"] for k in skips}),
        "skipped_mine": sorted({k["sample"] for k in skips if k["annotator"] == annotator}),
        "labeled": sorted({r["sample"] for r in rows}),
        "mine": sorted({r["sample"] for r in rows if r["annotator"] == annotator}),
        "history": [r["id"] for r in rows if r["annotator"] == annotator and r["source"] == "web"],
    }


def _json_body() -> dict[str, Any]:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # a body nested thousands deep: bad input, not a server error
        abort(400, "JSON nested too deeply")
    if not isinstance(body, dict):
        abort(400, "expected a JSON object (Content-Type: application/json)")
    return body


def _row_id(x: Any) -> bool:
    """A positive integer SQLite can hold (a larger one would overflow, not miss)."""
    return isinstance(x, int) and not isinstance(x, bool) and 0 < x < 2**63


# --- status --------------------------------------------------------------------------------


def _annotators(store: Store) -> list[dict[str, Any]]:
    """Labels per annotator and the time they measured."""
    per: dict[str, dict[str, Any]] = {}
    for row in store.labels():
        entry = per.setdefault(
            row["annotator"], {"annotator": row["annotator"], "labels": 0, "seconds": 0.0}
        )
        entry["labels"] += 1
        entry["seconds"] += row["seconds"] or 0.0
    return sorted(per.values(), key=lambda e: -e["labels"])


def _rounds(store: Store, metric: str) -> list[dict[str, Any]]:
    rounds = []
    for row in store.model_rounds():
        metrics = json.loads(row["metrics"]) if row["metrics"] else {}
        rounds.append(
            {
                "round": row["round"],
                "labeled": row["labeled"],
                "metric": metrics.get(metric),
                "train_seconds": row["train_seconds"],
            }
        )
    return rounds


def learning_curve_png(rounds: list[dict[str, Any]], metric: str) -> bytes:
    """The rounds' metric on the evaluation set against their number of labels, as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    points = [(r["labeled"], r["metric"], r["round"]) for r in rounds if r["metric"] is not None]
    if points:
        xs, ys, names = zip(*points, strict=True)
        axes.plot(xs, ys, marker="o", color="#2563eb")
        for x, y, name in points:
            axes.annotate(f"r{name}", (x, y), textcoords="offset points", xytext=(4, -12))
        axes.set_xlabel("labels the round trained on")
        axes.set_ylabel(f"{metric} (evaluation set)")
        axes.grid(alpha=0.3)
    else:
        axes.set_axis_off()
        axes.text(
            0.5,
            0.5,
            "no round evaluated yet\n(a round is evaluated on the --eval folder)",
            ha="center",
            va="center",
        )
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


# --- serving -----------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    project_folder: str | Path,
    annotator: str | None,
    host: str = "127.0.0.1",
    port: int = 8765,
    log: Log = print,
    warn: Log = print,
) -> None:
    """Serve the labeling page until Ctrl-C."""
    from werkzeug.serving import make_server

    annotator = annotator if annotator is not None else default_annotator()
    loopback = is_loopback(host)
    # On loopback, answer only requests addressed to loopback names: a web page whose DNS
    # name is re-pointed at 127.0.0.1 (DNS rebinding) gets 400, not the page and its token.
    trusted = sorted({host, *LOOPBACK_NAMES}) if loopback else None
    app = create_app(project_folder, annotator, trusted)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            server = make_server(host, port, app, threaded=True)
    except OSError as err:  # an address that is not this machine's
        raise ProjectError(f"cannot serve on {host}:{port}: {err}") from None
    except SystemExit:  # werkzeug explains on stderr and exits when the port is taken
        reason = (said.getvalue().strip().splitlines() or ["refused"])[0]
        raise ProjectError(
            f"cannot serve on {host}:{port}: {reason}; try another --port or --host"
        ) from None
    if not loopback:
        warn(
            f"ll4al: warning: serving on {host}: anyone who can reach it can see the images "
            "and add labels (the page has no login); use it on a network you trust"
        )
    shown = f"[{host}]" if ":" in host else host
    db = Store(Path(project_folder))
    try:
        unfinished = [b for b in db.batches() if b["labeled"] + b["skipped"] < b["size"]]
    finally:
        db.close()
    where = (
        f"batch {unfinished[0]['id']}, {unfinished[0]['labeled']}/{unfinished[0]['size']} labeled"
        if unfinished
        else "no open batch"
    )
    url = f"http://{shown}:{server.server_port}/"
    log(f"labeling {project_folder} ({where}) as {annotator!r} at {url} (Ctrl-C to stop)")
    try:
        server.serve_forever()  # returns on Ctrl-C
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    log("stopped; every answer is stored")
