"""Label Studio (Community Edition) formats: the project config, tasks to import, exports.

ll4al writes a labeling config and a tasks file (images plus the model's guesses as
pre-annotations, scored so the Data Manager can sort by them); annotators label in Label
Studio; its JSON export is read back into ``LabelRecord`` objects. Everything here is plain
data in and out: the store and the commands decide what to do with it.

Conventions kept by every function: the control tag is ``from_name="label"`` on the image
``to_name="image"``; a rectangle is Label Studio's ``x, y, width, height`` in percent of the
original image with ``(x, y)`` its top-left corner, while ll4al keeps ``[x1, y1, x2, y2]`` in
pixels of the original image.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import quoteattr

from ll4al.project.formats import LabelFileError, LabelRecord, check_seconds, read_text, show
from ll4al.project.settings import TASKS

FROM_NAME = "label"
#: How far (pixels) a box may overshoot the image and be clipped, as rounding of Label
#: Studio's percentages can; any further is refused.
EDGE_PX = 0.5
TO_NAME = "image"


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; Label Studio formats are for {TASKS}")


def labeling_config(task: str, classes: list[str]) -> str:
    """The XML labeling config for a Label Studio project of this task and these classes.

    Classification is one required single choice; detection is rectangles that cannot be
    rotated (``canRotate="false"``), since ll4al's boxes are axis-aligned and ``read_export``
    rejects rotated ones.
    """
    _check_task(task)
    if not classes:
        raise ValueError("a labeling config needs at least one class")
    if len(set(classes)) != len(classes):
        raise ValueError(f"duplicate class names in {classes!r}")
    image = f'  <Image name="{TO_NAME}" value="${TO_NAME}" zoom="true"/>'
    if task == "classification":
        options = "\n".join(f"    <Choice value={quoteattr(name)}/>" for name in classes)
        control = (
            f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single" required="true">\n'
            f"{options}\n  </Choices>"
        )
    else:
        options = "\n".join(f"    <Label value={quoteattr(name)}/>" for name in classes)
        control = (
            f'  <RectangleLabels name="{FROM_NAME}" toName="{TO_NAME}" canRotate="false">\n'
            f"{options}\n  </RectangleLabels>"
        )
    return f"<View>\n{image}\n{control}\n</View>\n"


def local_files_url(path: str) -> str:
    """The URL under which Label Studio's local files storage serves ``path``.

    ``path`` is relative to ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``, so that root must be
    the project's image root for the relative paths ll4al keeps to resolve.
    """
    return "/data/local-files/?d=" + quote(path)


def _choices_result(name: str) -> dict[str, Any]:
    return {
        "from_name": FROM_NAME,
        "to_name": TO_NAME,
        "type": "choices",
        "value": {"choices": [name]},
    }


def _rectangle_result(
    box: list[float], name: str, width: float, height: float, score: float | None = None
) -> dict[str, Any]:
    """One box in original-image pixels as a Label Studio ``rectanglelabels`` region."""
    x1, y1, x2, y2 = (float(v) for v in box)
    width, height = float(width), float(height)
    region: dict[str, Any] = {
        "from_name": FROM_NAME,
        "to_name": TO_NAME,
        "type": "rectanglelabels",
        "original_width": _plain(width),
        "original_height": _plain(height),
        "image_rotation": 0,
        "value": {
            "x": 100.0 * x1 / width,
            "y": 100.0 * y1 / height,
            "width": 100.0 * (x2 - x1) / width,
            "height": 100.0 * (y2 - y1) / height,
            "rotation": 0,
            "rectanglelabels": [name],
        },
    }
    if score is not None:
        region["score"] = float(score)
    return region


def _plain(number: float) -> int | float:
    """A whole number as an int, as Label Studio writes image sizes (and numpy never leaks)."""
    return int(number) if number.is_integer() else number


def _result(value: Any, task: str, width: Any, height: Any) -> list[dict[str, Any]]:
    """A label (or a guess) as a Label Studio result list."""
    if task == "classification":
        return [_choices_result(value)]
    scores = value.get("scores")
    if scores is None:
        scores = [None] * len(value["boxes"])
    return [
        _rectangle_result(box, name, width, height, score)
        for box, name, score in zip(value["boxes"], value["labels"], scores, strict=True)
    ]


def _data(sample_id: str, path: str, image_url: Callable[[str], str]) -> dict[str, Any]:
    return {"image": image_url(path), "ll4al_id": sample_id, "ll4al_path": path}


def model_version(round_index: int | None, strategy: str) -> str:
    """The predictions' ``model_version``: the round and strategy that chose the batch."""
    return "random" if round_index is None else f"round-{round_index}-{strategy}"


def rank_score(rank: int, size: int) -> float:
    """A batch position as the score Label Studio accepts: in (0, 1], 1 for the first pick.

    Why not the strategy's own number: a predicted loss is unbounded (Label Studio 1.23
    refuses a score outside [0, 1]), and for a balanced strategy the batch order is not the
    order of its raw scores. ``(size - rank + 1) / size`` sorts exactly as the batch does.
    """
    if not 1 <= rank <= size:
        raise ValueError(f"rank {rank} outside a batch of {size}")
    return (size - rank + 1) / size


def tasks_json(
    items: list[dict[str, Any]],
    task: str,
    model_version: str,
    image_url: Callable[[str], str] = local_files_url,
    project_id: str | None = None,
) -> list[dict[str, Any]]:
    """Label Studio tasks for a batch: each image, with the model's guess as a prediction.

    ``items`` are in the batch's order, most wanted first. Each has ``id``, ``path``,
    ``score``, ``guess`` (class name; for detection ``{"boxes", "labels", "scores"}`` in
    original pixels; or None), ``width`` and ``height`` (original image size), and may have
    ``checksum`` (the image's sha256 when registered). The prediction's ``score`` is
    ``rank_score``, what the Data Manager sorts by; the strategy's own number rides along as
    ``data["ll4al_score"]``. An item without a guess gets no prediction. ``ll4al_id``,
    ``ll4al_path``, ``ll4al_project`` and ``ll4al_checksum`` ride along in ``data`` so the
    export can be matched back, and checked, whatever the image URL looks like.
    """
    _check_task(task)
    tasks = []
    for rank, item in enumerate(items, start=1):
        data = _data(item["id"], item["path"], image_url)
        score = item.get("score")
        if score is not None:
            if not math.isfinite(score):
                raise ValueError(f"sample {item['id']!r}: score {score!r} is not finite")
            data["ll4al_score"] = float(score)
        data["ll4al_rank"] = rank
        if project_id is not None:
            data["ll4al_project"] = project_id
        if item.get("checksum"):
            data["ll4al_checksum"] = item["checksum"]
        entry: dict[str, Any] = {"data": data}
        guess = item.get("guess")
        if guess is not None:
            size = (item.get("width"), item.get("height"))
            entry["predictions"] = [prediction(guess, task, size, rank, len(items), model_version)]
        tasks.append(entry)
    return tasks


def prediction(
    guess: Any, task: str, size: tuple[Any, Any], rank: int, batch_size: int, version: str
) -> dict[str, Any]:
    """The model's guess for an image at ``rank`` of its batch, as a Label Studio prediction
    (in a task file, and as the ML backend's answer to ``/predict``)."""
    return {
        "model_version": version,
        "score": rank_score(rank, batch_size),
        "result": _result(guess, task, *size),
    }


def webhook_record(payload: dict[str, Any], task: str, source: str) -> LabelRecord:
    """The annotation of a Label Studio webhook (``ANNOTATION_CREATED``/``_UPDATED``:
    ``{"task": {...}, "annotation": {...}}``) as a record, read as an export's would be."""
    entry, annotation = payload.get("task"), payload.get("annotation")
    if not isinstance(entry, dict) or not isinstance(entry.get("data"), dict):
        raise LabelFileError(f"{source}: no task with 'data' in the event")
    place = _task_place(entry, 0)
    where = f"{place} annotation {_annotation_number(annotation, 1)}"
    key = task_key(entry["data"], source, place)
    record = annotation_record(annotation, key, task, source, where)
    return replace(record, **_origin(entry["data"], source, place))


def annotated_export(
    records: list[dict[str, Any]],
    task: str,
    image_url: Callable[[str], str] = local_files_url,
) -> list[dict[str, Any]]:
    """Stored labels written as Label Studio's JSON export, the inverse of ``read_export``.

    Each record has ``id``, ``path``, ``value``, ``annotator``, ``seconds``, ``width`` and
    ``height``, and may have ``cancelled``. Records of the same sample become annotations of
    one task. An annotator that is a number becomes ``completed_by`` as Label Studio's user
    id, any other as ``{"email": ...}``, so ``read_export`` gives the same string back.
    """
    _check_task(task)
    tasks: dict[str, dict[str, Any]] = {}
    for number, record in enumerate(records, 1):
        sample_id = record["id"]
        if sample_id not in tasks:
            data = _data(sample_id, record["path"], image_url)
            tasks[sample_id] = {"id": len(tasks) + 1, "data": data, "annotations": []}
        cancelled = bool(record.get("cancelled", False))
        annotation: dict[str, Any] = {
            "id": number,
            "completed_by": _completed_by(record.get("annotator") or ""),
            "lead_time": record.get("seconds"),
            "was_cancelled": cancelled,
            "result": [],
        }
        if not cancelled:
            value = record["value"]
            annotation["result"] = _result(value, task, record.get("width"), record.get("height"))
        tasks[sample_id]["annotations"].append(annotation)
    return list(tasks.values())


def _completed_by(annotator: str) -> int | dict[str, str] | None:
    if not annotator:
        return None
    if annotator.isascii() and annotator.isdigit() and str(int(annotator)) == annotator:
        return int(annotator)
    return {"email": annotator}


def read_export(path: Path, task: str) -> list[LabelRecord]:
    """Labels from a Label Studio JSON export (the "JSON" format: a list of tasks).

    A task's key is, in this order: ``data["ll4al_id"]``; else ``data["ll4al_path"]``; else,
    for a local-files URL, its ``d=`` parameter unquoted; else the last path component of
    ``data["image"]`` (unquoted). Each annotation is one record (annotator from
    ``completed_by``, seconds from ``lead_time``); a skipped one (``was_cancelled``) is a
    record with ``cancelled=True`` and value None; a task without annotations gives none.
    Predictions and drafts are ignored: only what an annotator submitted is a label.
    """
    _check_task(task)
    text = read_text(path)
    try:
        tasks = json.loads(text)
    except json.JSONDecodeError as err:
        where = f"line {err.lineno} column {err.colno}"
        raise LabelFileError(f"{path}: {where}: not JSON ({err.msg})") from err
    except RecursionError as err:
        raise LabelFileError(f"{path}: not JSON ll4al can read (nested too deeply)") from err
    except ValueError as err:  # a number of thousands of digits: Python's int limit
        problem = str(err).split(";")[0]
        raise LabelFileError(f"{path}: not JSON ll4al can read ({problem})") from None
    return export_records(tasks, task, path)


def export_records(tasks: Any, task: str, path: Path | str) -> list[LabelRecord]:
    """Records of a list of Label Studio tasks with their annotations (an export's content,
    or what Label Studio sends an ML backend's ``/train``); ``path`` names it in errors."""
    _check_task(task)
    if not isinstance(tasks, list):
        message = f"{path}: not a list of tasks (use Label Studio's 'JSON' export format)"
        raise LabelFileError(message)
    records: list[LabelRecord] = []
    for index, entry in enumerate(tasks):
        place = _task_place(entry, index)
        if not isinstance(entry, dict) or not isinstance(entry.get("data"), dict):
            message = (
                f"{path}: {place}: no 'data' object (use Label Studio's 'JSON' export format,"
                " not 'JSON_MIN' or 'CSV')"
            )
            raise LabelFileError(message)
        data = entry["data"]
        key = task_key(data, path, place)
        origin = _origin(data, path, place)
        annotations = entry.get("annotations")
        annotations = [] if annotations is None else annotations
        if not isinstance(annotations, list):
            raise LabelFileError(f"{path}: {place}: 'annotations' is not a list")
        for number, annotation in enumerate(annotations, 1):
            where = f"{place} annotation {_annotation_number(annotation, number)}"
            record = annotation_record(annotation, key, task, path, where)
            records.append(replace(record, **origin))
    return records


def _origin(data: dict[str, Any], path: Path | str, place: str) -> dict[str, str | None]:
    """The ll4al project and image checksum a task says it is about (None: not said)."""
    origin: dict[str, str | None] = {}
    for field, name in (("ll4al_project", "project"), ("ll4al_checksum", "checksum")):
        value = data.get(field)
        if value is not None and (not isinstance(value, str) or not value):
            raise LabelFileError(f"{path}: {place}: {field} {show(value)} is not a string")
        origin[name] = value
    return origin


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: Any) -> float | None:
    """A JSON number as a finite float, or None (not a number, infinite, or too large)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return number if math.isfinite(number) else None


def _task_place(entry: Any, index: int) -> str:
    """ "task 17" by Label Studio's task id, which the annotator can find in the Data Manager."""
    if isinstance(entry, dict) and _is_int(entry.get("id")):
        return f"task {entry['id']}"
    return f"task at position {index + 1}"


def _annotation_number(annotation: Any, number: int) -> str:
    if isinstance(annotation, dict) and _is_int(annotation.get("id")):
        return str(annotation["id"])
    return f"#{number}"


def task_key(data: dict[str, Any], path: Path | str, place: str) -> str:
    """The sample a task is about; see ``read_export`` for the order of the fields tried."""
    for field in ("ll4al_id", "ll4al_path"):
        if field in data:
            value = data[field]
            if _is_int(value):
                value = str(value)
            if not isinstance(value, str) or not value:
                message = f"{path}: {place}: {field} {show(value)} is not a non-empty string"
                raise LabelFileError(message)
            return value
    image = data.get("image")
    if not isinstance(image, str) or not image:
        message = f"{path}: {place}: no 'll4al_id', 'll4al_path' or 'image' in its data"
        raise LabelFileError(message)
    try:
        url = urlsplit(image)
    except ValueError as err:
        raise LabelFileError(f"{path}: {place}: image URL {show(image)} is invalid") from err
    local = parse_qs(url.query).get("d") if url.path.endswith("/data/local-files/") else None
    key = local[0] if local else unquote(url.path.rstrip("/").rsplit("/", 1)[-1])
    if not key:
        raise LabelFileError(f"{path}: {place}: no image file name in {show(image)}")
    return key


def annotation_record(
    annotation: Any, key: str, task: str, path: Path | str, where: str
) -> LabelRecord:
    """One annotation as a record: who, how long, and the label unless it was skipped.

    Its ``ref`` is ``label-studio:<annotation id>`` where the annotation has an id, so an
    annotation edited after an earlier import is known as the same one (its ``lead_time``
    is the total of all its sessions). ``path`` names the source in errors (a file, or the
    ML backend's webhook)."""
    if not isinstance(annotation, dict):
        raise LabelFileError(f"{path}: {where}: not an annotation object")
    annotator = _annotator(annotation.get("completed_by"))
    seconds = check_seconds(annotation.get("lead_time"), path, where)
    cancelled = annotation.get("was_cancelled", False)
    if not isinstance(cancelled, bool):
        raise LabelFileError(f"{path}: {where}: was_cancelled {show(cancelled)} is not a boolean")
    result = annotation.get("result")
    result = [] if result is None else result
    if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
        raise LabelFileError(f"{path}: {where}: 'result' is not a list of objects")
    number = annotation.get("id")
    ref = f"label-studio:{number}" if _is_int(number) else None
    if cancelled:
        return LabelRecord(key, None, annotator, seconds, where, cancelled=True, ref=ref)
    if task == "classification":
        value: Any = _choice(result, path, where)
    else:
        value = _boxes(result, path, where)
    return LabelRecord(key, value, annotator, seconds, where, ref=ref)


def _annotator(completed_by: Any) -> str:
    """Label Studio's user id as a string, or the user's email where the export expands it."""
    if _is_int(completed_by):
        return str(completed_by)
    if isinstance(completed_by, dict) and isinstance(completed_by.get("email"), str):
        return completed_by["email"]
    return ""


def _result_type(
    result: dict[str, Any], wanted: str, task: str, path: Path | str, where: str
) -> None:
    kind = result.get("type")
    other = {"choices": "classification", "rectanglelabels": "detection"}.get(str(kind))
    if kind != wanted and other is not None and other != task:
        message = f"{path}: {where}: a {other} label ({kind}) in a {task} project"
        message += ": a file of another task?"
        raise LabelFileError(message)
    if kind != wanted or not isinstance(result.get("value"), dict):
        message = (
            f"{path}: {where}: unknown result shape (type {show(kind)});"
            f" a {task} label is made of {show(wanted)} results"
        )
        raise LabelFileError(message)


def _choice(results: list[dict[str, Any]], path: Path | str, where: str) -> str:
    """The class name: the one choice of the one ``choices`` result."""
    for result in results:
        _result_type(result, "choices", "classification", path, where)
    if not results:
        message = f"{path}: {where}: no choice made (and the task was not skipped)"
        raise LabelFileError(message)
    if len(results) > 1:
        message = f"{path}: {where}: {len(results)} choices results; a classification has one"
        raise LabelFileError(message)
    choices = results[0]["value"].get("choices")
    if not isinstance(choices, list) or len(choices) != 1:
        message = f"{path}: {where}: choices {show(choices)} is not a list of one class name"
        raise LabelFileError(message)
    name = choices[0]
    if not isinstance(name, str) or not name.strip():
        raise LabelFileError(f"{path}: {where}: choice {show(name)} is not a class name")
    return name


def _boxes(results: list[dict[str, Any]], path: Path | str, where: str) -> dict[str, list[Any]]:
    """All rectangles of an annotation, back in original-image pixels; none is a valid label."""
    boxes: list[list[float]] = []
    labels: list[str] = []
    for number, result in enumerate(results, 1):
        place = f"{where} region {number}"
        _result_type(result, "rectanglelabels", "detection", path, place)
        size = [result.get("original_width"), result.get("original_height")]
        width, height = (_finite(v) for v in size)
        if width is None or height is None or width <= 0 or height <= 0:
            message = (
                f"{path}: {place}: original_width, original_height {show(size)}"
                " missing or not positive numbers"
            )
            raise LabelFileError(message)
        if result.get("image_rotation", 0) != 0:
            message = f"{path}: {place}: the image was rotated; rotated images are not supported"
            raise LabelFileError(message)
        value = result["value"]
        if value.get("rotation", 0) != 0:
            rotation = show(value["rotation"])
            message = f"{path}: {place}: rotation {rotation}; rotated boxes are not supported"
            raise LabelFileError(message)
        names = value.get("rectanglelabels")
        if not isinstance(names, list) or len(names) != 1 or not isinstance(names[0], str):
            message = f"{path}: {place}: rectanglelabels {show(names)} is not one class name"
            raise LabelFileError(message)
        percent = [value.get(k) for k in ("x", "y", "width", "height")]
        x, y, w, h = (_finite(v) for v in percent)
        if x is None or y is None or w is None or h is None:
            message = f"{path}: {place}: x, y, width, height {show(percent)} are not all numbers"
            raise LabelFileError(message)
        x1, x2 = x * width / 100, (x + w) * width / 100
        y1, y2 = y * height / 100, (y + h) * height / 100
        if min(x1, y1) < -EDGE_PX or x2 > width + EDGE_PX or y2 > height + EDGE_PX:
            message = (
                f"{path}: {place}: box {show(percent)} (percent) reaches past the image edge"
                f" ({width:g}x{height:g} px)"
            )
            raise LabelFileError(message)
        # Clipped to the image: a box drawn to the border may overshoot it by rounding.
        x1, x2 = max(0.0, x1), min(width, x2)
        y1, y2 = max(0.0, y1), min(height, y2)
        if not (x1 < x2 and y1 < y2):
            message = f"{path}: {place}: box {show(percent)} (percent) has no area in the image"
            raise LabelFileError(message)
        boxes.append([x1, y1, x2, y2])
        labels.append(names[0])
    return {"boxes": boxes, "labels": labels}
