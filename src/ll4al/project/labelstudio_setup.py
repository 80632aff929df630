"""``ll4al labelstudio``: set up a Label Studio project for the current batch, in one command.

It creates (or finds, and updates) the Label Studio project of this ll4al project, with the
labeling config, a Local Files storage that lets Label Studio serve the images, the current
batch's tasks with the model's guesses as predictions, and (where given) the ML backend
``ll4al serve`` runs. Run again after each ``query``: tasks already there are not added twice.

Why plain HTTP and not ``label-studio-sdk``: a handful of REST calls are needed, while the
SDK (2.1.2, the one Label Studio 1.23.2 installs) requires 24 packages, among them OpenCV,
pandas, nltk and a code generator, and it replaced its whole interface between its 1.x and
2.x releases; ``urllib`` is in the standard library and the REST API is what both SDKs call.

Label Studio serves a local file only under a Local Files storage of the project, and refuses
a storage at ``LOCAL_FILES_DOCUMENT_ROOT`` itself: the images folder must be below that root,
and each task's URL is ``/data/local-files/?d=<image path relative to the root>``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from ll4al.project.labelstudio import labeling_config, model_version, tasks_json
from ll4al.project.project import Project, ProjectError

Log = Callable[[str], None]

TOKEN_ENV = "LABEL_STUDIO_API_KEY"
ROOT_ENV = "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"
TIMEOUT = 60.0


class LabelStudioError(ProjectError):
    """Label Studio refused a request or could not be reached; one line saying which."""


class Client:
    """Label Studio's REST API with a user's token.

    A legacy token goes as ``Authorization: Token <t>``; a personal access token (a JWT, as
    Label Studio 1.23 makes them by default) is a refresh token, exchanged once for an access
    token sent as ``Bearer``."""

    def __init__(self, url: str, token: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise ProjectError(f"--url {url!r} is not an http(s) URL of Label Studio")
        if not token:
            raise ProjectError(f"no Label Studio token: pass --token or set {TOKEN_ENV}")
        self.url = url.rstrip("/")
        if token.count(".") == 2:  # a JWT: a personal access token
            access = self.call("POST", "/api/token/refresh", {"refresh": token}, auth="")
            self.auth = f"Bearer {access['access']}"
        else:
            self.auth = f"Token {token}"

    def call(self, method: str, path: str, body: Any = None, auth: str | None = None) -> Any:
        """One request; the answer's JSON (None when empty). Errors are one line."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        header = self.auth if auth is None else auth
        if header:
            request.add_header("Authorization", header)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                text = response.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace").strip().replace("\n", " ")
            raise LabelStudioError(
                f"Label Studio answered {err.code} to {method} {path}: {detail[:300]}"
            ) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise LabelStudioError(f"cannot reach Label Studio at {self.url}: {reason}") from None
        return json.loads(text) if text.strip() else None

    def pages(self, path: str, key: str = "results") -> list[dict[str, Any]]:
        """Every item of a paginated list (or of a plain list answer)."""
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            sep = "&" if "?" in path else "?"
            answer = self.call("GET", f"{path}{sep}page={page}&page_size=500")
            if isinstance(answer, list):
                return answer
            batch = answer.get(key) or []
            items.extend(batch)
            total = answer.get("count", answer.get("total"))
            if not batch or total is None or len(items) >= total:
                return items
            page += 1


def image_url(images: Path, root: Path) -> Callable[[str], str]:
    """Task URLs for images under ``images``, served by Label Studio from ``root``."""
    relative = _below_root(images, root)
    return lambda path: "/data/local-files/?d=" + quote(f"{relative}/{path}")


def _below_root(images: Path, root: Path) -> str:
    images, root = images.resolve(), root.resolve()
    if images == root:
        raise ProjectError(
            f"the images folder {images} is Label Studio's {ROOT_ENV} itself, and Label Studio "
            "refuses a storage there: set the root to a folder above it"
        )
    if not images.is_relative_to(root):
        raise ProjectError(
            f"the images folder {images} is not under Label Studio's {ROOT_ENV} {root}: "
            "start Label Studio with a root above it (or pass --document-root)"
        )
    return images.relative_to(root).as_posix()


@dataclass(frozen=True)
class Setup:
    """What ``setup_project`` did: the Label Studio project, and tasks added now."""

    project: int
    url: str
    created: bool
    tasks_added: int
    tasks_there: int


def setup_project(
    project: Project,
    client: Client,
    document_root: Path,
    title: str | None = None,
    ml_backend: str | None = None,
    log: Log = print,
) -> Setup:
    """Create or update this project's Label Studio project; add the latest batch's tasks
    that are not there yet (with their predictions); connect ``ml_backend`` if given."""
    settings = project.settings
    images = project.images_root
    urls = image_url(images, document_root)
    config = labeling_config(settings.task, list(settings.classes))
    key = f"labelstudio {client.url}"
    known = project.store.info(key)
    ls_project = None
    if known is not None:
        try:
            ls_project = client.call("GET", f"/api/projects/{int(known)}")
        except LabelStudioError:
            ls_project = None  # deleted in Label Studio: make it again
    created = ls_project is None
    if created:
        ls_project = client.call(
            "POST",
            "/api/projects",
            {
                "title": title or settings.name,
                "label_config": config,
                "description": f"ll4al project {project.store.project_id()} ({project.folder})",
            },
        )
        with project.store.transaction() as db:
            project.store.set_info(db, key, str(ls_project["id"]))
    elif ls_project.get("label_config") != config:
        client.call("PATCH", f"/api/projects/{ls_project['id']}", {"label_config": config})
    pid = int(ls_project["id"])
    _storage(client, pid, images.resolve())
    if ml_backend:
        _ml_backend(client, pid, ml_backend)
    tasks = batch_tasks(project, urls)
    there = {
        t.get("data", {}).get("ll4al_id")
        for t in client.pages(f"/api/tasks?{urlencode({'project': pid})}", key="tasks")
    }
    new = [t for t in tasks if t["data"]["ll4al_id"] not in there]
    if new:
        client.call("POST", f"/api/projects/{pid}/import", new)
    url = f"{client.url}/projects/{pid}/data"
    verb = "created" if created else "updated"
    log(
        f"Label Studio project {pid} {verb}: {len(new)} tasks added, "
        f"{len(tasks) - len(new)} already there; label at {url}"
    )
    return Setup(pid, url, created, len(new), len(tasks) - len(new))


def batch_tasks(project: Project, urls: Callable[[str], str]) -> list[dict[str, Any]]:
    """The latest batch's tasks, with this server's image URLs (as ``query`` wrote them)."""
    store = project.store
    batches = store.batches()
    if not batches:
        raise ProjectError(f"no batch yet: propose one first (ll4al query {project.folder} --k N)")
    batch = batches[-1]
    samples = {s.id: s for s in project.pool_samples()}
    items = []
    for row in store.batch_items(batch["id"]):
        sample = samples[row["sample"]]
        items.append(
            {
                "id": sample.id,
                "path": sample.id,
                "score": row["score"],
                "guess": None if row["guess"] is None else json.loads(row["guess"]),
                "width": sample.width,
                "height": sample.height,
                "checksum": sample.checksum,
            }
        )
    version = model_version(batch["round"], batch["strategy"])
    return tasks_json(items, project.settings.task, version, urls, store.project_id())


def _storage(client: Client, pid: int, images: Path) -> None:
    """A Local Files storage at the images folder (never synced: it only lets Label
    Studio serve the files the tasks name)."""
    storages = client.call("GET", f"/api/storages/localfiles?{urlencode({'project': pid})}")
    if any(Path(s.get("path", "")) == images for s in storages or []):
        return
    client.call(
        "POST",
        "/api/storages/localfiles",
        {
            "project": pid,
            "title": "ll4al images",
            "path": str(images),
            "use_blob_urls": True,
            "regex_filter": "",
        },
    )


def _ml_backend(client: Client, pid: int, url: str) -> None:
    backends = client.call("GET", f"/api/ml?{urlencode({'project': pid})}") or []
    if any(b.get("url", "").rstrip("/") == url.rstrip("/") for b in backends):
        return
    try:
        client.call(
            "POST",
            "/api/ml",
            {"project": pid, "url": url, "title": "ll4al", "is_interactive": False},
        )
    except LabelStudioError as err:
        if "reserved network address" not in str(err):
            raise
        raise LabelStudioError(
            f"Label Studio refuses the ML backend at {url}, a local address: start it with "
            "LABEL_STUDIO_ML_BLOCK_LOCAL_IP=false and LABEL_STUDIO_SSRF_PROTECTION_ENABLED=false "
            "(its webhook) to let it reach a model on this machine"
        ) from None


def default_root(images: Path) -> Path:
    """Label Studio's document root: its environment variable here, else the folder above
    the images (start Label Studio with that root)."""
    value = os.environ.get(ROOT_ENV)
    return Path(value) if value else images.resolve().parent
