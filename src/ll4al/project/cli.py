"""The labeling project's commands: ``init``, ``add``, ``query``, ``import``, ``status``,
``export``, ``label``; one handler each (``set_defaults``).

Only ``init``, ``add`` and ``query`` load the torch stack, inside their handlers, so that
``status``, ``import``, ``export`` and ``label`` start in well under a second.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm.auto import tqdm

from ll4al.config import add_overrides_argument
from ll4al.project.export import EXPORT_FORMATS
from ll4al.project.project import Project
from ll4al.project.settings import (
    CLASSIFICATION_STRATEGY,
    DETECTION_STRATEGY,
    FROZEN_STRATEGY,
    TASKS,
    ProjectSettings,
)


def add_project_parsers(sub: argparse._SubParsersAction) -> None:
    init = sub.add_parser(
        "init",
        help="start a labeling project on a folder of images",
        description="Register every image under --images (recursively; jpg, png, bmp, tiff; "
        "grayscale or colour, any size: resized for the model) in a new project folder.",
    )
    init.add_argument("project", help="the project folder to create")
    init.add_argument("--images", required=True, help="the folder of images to label")
    init.add_argument("--task", choices=TASKS, default="classification")
    init.add_argument("--classes", required=True, help="class names, comma-separated")
    init.add_argument("--labels", help="labels already known: a CSV (path,label) or LS JSON")
    init.add_argument(
        "--eval",
        dest="evaluation",
        help="a labeled folder <class>/<image> to evaluate each round's model on",
    )
    init.add_argument("--model", help="network (default: cifar-resnet18 / ssdlite320)")
    init.add_argument("--image-size", type=int, help="square size images are resized to")
    init.add_argument(
        "--strategy",
        help=f"query strategy (default: {ProjectSettings.strategy}: {CLASSIFICATION_STRATEGY}, "
        f"or {FROZEN_STRATEGY} on a frozen encoder's embeddings; detection: "
        f"{DETECTION_STRATEGY})",
    )
    init.add_argument("--seed", type=int)
    init.add_argument("--initial", type=int, help="random labels before a model chooses")
    init.add_argument("--cost-minutes", type=float, help="minutes one label takes")
    init.add_argument("--cost-money", type=float, help="what one label costs")
    init.add_argument("--currency", help="e.g. RMB, EUR")
    add_overrides_argument(init, "train.epochs=20")

    q = sub.add_parser(
        "query",
        help="train on the labels so far and propose the next batch to label",
        description="Writes PROJECT/batches/batch-NNN.csv (fill in the label column) and "
        "batch-NNN-labelstudio.json (import into Label Studio; the model's guess is a "
        "prediction, sortable by score).",
    )
    q.add_argument("project")
    q.add_argument("--k", type=int, required=True, help="how many images to propose")
    q.add_argument("--strategy", help="override the project's strategy for this batch")
    q.add_argument(
        "--force", action="store_true", help="propose a batch even where the stop rule is met"
    )
    add = sub.add_parser(
        "add", help="register images added to the project's image folder since init"
    )
    add.add_argument("project")
    add.add_argument(
        "--accept-changed",
        action="store_true",
        help="register the new pixels of images replaced since they were registered; their "
        "labels are set aside (kept in the database) and they are to be labeled again",
    )
    i = sub.add_parser("import", help="import labels: a CSV or a Label Studio JSON export")
    i.add_argument("project")
    i.add_argument("file", help="CSV (path or id, label[, annotator, seconds]) or LS export")
    i.add_argument(
        "--annotators",
        help="Label Studio user ids to names, e.g. 1=ann@lab.org,2=bo (default: the ids)",
    )
    i.add_argument(
        "--outside-batch", action="store_true", help="accept labels for images no batch proposed"
    )
    s = sub.add_parser("status", help="labels per class, batches, time and money spent")
    s.add_argument("project")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    e = sub.add_parser("export", help="the labeled data set, for other tools")
    e.add_argument("project")
    e.add_argument("--format", choices=EXPORT_FORMATS, required=True)
    e.add_argument("--out", required=True, help="file (csv, labelstudio) or folder")
    lab = sub.add_parser(
        "label",
        help="label the open batch in the browser (needs ll4al[web])",
        description="Serve a labeling page for the project's open batch: the image, the "
        "model's guess and score, a button per class (keys 0-9; a class named 0-9 gets that "
        "key), skip and undo. Every answer is stored at once; reopening the page resumes at the "
        "first unanswered image.",
    )
    lab.add_argument("project")
    lab.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    lab.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1, this machine only); another one lets "
        "anyone who reaches it label, and prints a warning",
    )
    lab.add_argument(
        "--annotator", help="the name stored with every label (default: your user name)"
    )
    ls = sub.add_parser(
        "labelstudio",
        help="create or update the project's Label Studio project with the current batch",
        description="Creates (or updates) a Label Studio project with the labeling config, a "
        "Local Files storage at the images folder and the latest batch's tasks with the "
        "model's guesses; run again after each query. Label Studio must serve local files "
        "(LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true) from a document root above the "
        "images folder.",
    )
    ls.add_argument("project")
    _label_studio_arguments(ls, required=True)
    ls.add_argument("--title", help="the Label Studio project's title (default: the name)")
    ls.add_argument("--ml-backend", help="connect this ML backend (ll4al serve's URL)")
    srv = sub.add_parser(
        "serve",
        help="serve the project as Label Studio's ML backend (needs ll4al[web])",
        description="A Label Studio ML backend: /predict answers each task with the model's "
        "guess and its place in the batch, /webhook stores annotations as they are made, "
        "and a round (ll4al query) starts in the background on Label Studio's Start "
        "training or after --train-after new labels, once the batch is done.",
    )
    srv.add_argument("project")
    srv.add_argument("--port", type=int, default=9090, help="port to listen on (default 9090)")
    srv.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    srv.add_argument("--train-after", type=int, help="start a round after N new labels")
    srv.add_argument("--k", type=int, help="batch size of a round (default: the last one's)")
    srv.add_argument("--annotators", help="Label Studio user ids to names: 1=ann,2=bo")
    _label_studio_arguments(srv, required=False)
    for parser, handler in (
        (ls, _labelstudio),
        (srv, _serve),
        (init, _init),
        (add, _add),
        (q, _query),
        (i, _import),
        (s, _status),
        (e, _export),
        (lab, _label),
    ):
        parser.add_argument("--quiet", action="store_true", help="no progress bars")
        parser.set_defaults(handler=handler)


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()  # a redirected log gets no bars


def _init(args: argparse.Namespace) -> int:
    from ll4al.project.commands import init_project

    options = {
        "evaluation": args.evaluation,
        "model": {"name": args.model} if args.model else None,
        "image_size": args.image_size,
        "strategy": args.strategy,
        "seed": args.seed,
        "active": {"initial": args.initial} if args.initial is not None else None,
        "cost": {
            k: v
            for k, v in (
                ("minutes", args.cost_minutes),
                ("money", args.cost_money),
                ("currency", args.currency),
            )
            if v is not None
        },
    }
    classes = [c.strip() for c in args.classes.split(",")]
    labels = Path(args.labels) if args.labels else None
    project = init_project(
        Path(args.project),
        Path(args.images),
        args.task,
        classes,
        options,
        args.overrides,
        labels,
        _progress(args),
        tqdm.write,
    )
    project.close()
    return 0


@contextmanager
def _opened(folder: str) -> Iterator[Project]:
    """The project, locked for this command and closed after it."""
    project = Project.open(folder)
    try:
        with project.lock():
            yield project
    finally:
        project.close()


@contextmanager
def _reading(folder: str) -> Iterator[Project]:
    """The project for a command that only reads (``status``, ``export``): no lock, so it
    runs while a query trains; it reads inside ``project.store.snapshot()``, so it never
    sees half of another command's writes."""
    project = Project.open(folder)
    try:
        yield project
    finally:
        project.close()


def _query(args: argparse.Namespace) -> int:
    """The one project command that runs under torchrun: rank 0 locks, writes and speaks."""
    from ll4al.distributed import device_for, init_distributed, world
    from ll4al.project.query import query
    from ll4al.runtime import select_device

    project = Project.open(args.project)
    try:
        init_distributed(device_for(select_device(project.settings.device)))
        main = world().is_main
        with project.lock(main):
            log = tqdm.write if main else lambda _line: None
            path = query(project, args.k, args.strategy, _progress(args), log, args.force)
            if main:
                print(
                    f"batch to label: {path}\n  and for Label Studio: "
                    f"{path.with_name(path.stem + '-labelstudio.json')}"
                )
    finally:
        project.close()
    return 0


def _add(args: argparse.Namespace) -> int:
    from ll4al.project.commands import add_images

    with _opened(args.project) as project:
        add_images(project, _progress(args), accept_changed=args.accept_changed)
    return 0


def _import(args: argparse.Namespace) -> int:
    from ll4al.project.label_import import import_labels, parse_annotators

    annotators = parse_annotators(args.annotators)
    with _opened(args.project) as project:
        import_labels(project, Path(args.file), args.outside_batch, annotators=annotators)
    return 0


def _status(args: argparse.Namespace) -> int:
    from ll4al.project.integrity import check_images, remember
    from ll4al.project.status import format_status, status

    with _reading(args.project) as project:
        with project.store.snapshot():
            images = check_images(project)
            info = status(project, images)
        print(json.dumps(info, indent=1) if args.json else format_status(project, info))
        remember(project, images, wait=False)  # files hashed now are not hashed again
    return 0


def _export(args: argparse.Namespace) -> int:
    from ll4al.project.export import export

    with _reading(args.project) as project, project.store.snapshot():
        export(project, args.format, Path(args.out))
    return 0


#: What Flask needs besides itself; a missing one means the ``web`` extra is not installed.
_WEB_PACKAGES = {"flask", "werkzeug", "jinja2", "itsdangerous", "markupsafe", "click", "blinker"}


def _label(args: argparse.Namespace) -> int:
    try:
        from ll4al.project.web import serve
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in _WEB_PACKAGES:
            raise
        print('ll4al: error: `ll4al label` needs Flask: pip install "ll4al[web]"', file=sys.stderr)
        return 2
    Project.open(args.project).close()  # not a project: the usual one-line error
    serve(
        args.project,
        args.annotator,
        args.host,
        args.port,
        log=print,
        warn=lambda line: print(line, file=sys.stderr),
    )
    return 0


def _label_studio_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    what = "" if required else " (to send each new batch there)"
    parser.add_argument("--url", required=required, help=f"Label Studio's URL{what}")
    parser.add_argument("--token", help="Label Studio API token (default: $LABEL_STUDIO_API_KEY)")
    parser.add_argument(
        "--document-root",
        help="Label Studio's LOCAL_FILES_DOCUMENT_ROOT (default: "
        "$LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT, else the folder above the images)",
    )


def _label_studio(args: argparse.Namespace, project: Project, log=print):
    """The Label Studio client and document root the arguments name."""
    import os

    from ll4al.project.labelstudio_setup import TOKEN_ENV, Client, default_root

    client = Client(args.url, args.token or os.environ.get(TOKEN_ENV, ""))
    root = Path(args.document_root) if args.document_root else default_root(project.images_root)
    return client, root


def _labelstudio(args: argparse.Namespace) -> int:
    from ll4al.project.labelstudio_setup import setup_project

    with _opened(args.project) as project:
        client, root = _label_studio(args, project)
        setup_project(project, client, root, args.title, args.ml_backend)
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        from ll4al.project.labelstudio_backend import create_backend, serve_backend
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in _WEB_PACKAGES:
            raise
        print('ll4al: error: `ll4al serve` needs Flask: pip install "ll4al[web]"', file=sys.stderr)
        return 2
    from ll4al.project.label_import import parse_annotators

    annotators = parse_annotators(args.annotators)
    after = None
    if args.url:
        from ll4al.project.labelstudio_setup import setup_project

        project = Project.open(args.project)
        try:
            client, root = _label_studio(args, project)
        finally:
            project.close()

        def after() -> None:  # the new batch's tasks go to Label Studio
            opened = Project.open(args.project)
            try:
                setup_project(opened, client, root)
            finally:
                opened.close()

    app = create_backend(args.project, args.train_after, args.k, annotators, after)
    serve_backend(app, args.host, args.port)
    return 0
