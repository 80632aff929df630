"""Classification labels as CSV: the simplest way to label a batch without any tool.

``write_batch_csv`` writes the batch ll4al proposes (``rank,id,path,score,guess,label``) with
an empty ``label`` column; an annotator fills it in a spreadsheet or an editor and
``read_label_csv`` imports the same file back. A hand-made file works too: a header with a
``path`` or ``id`` column and a ``label`` column, optionally ``annotator`` and ``seconds``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from ll4al.files import atomic_path
from ll4al.project.formats import (
    LabelFileError,
    LabelRecord,
    read_text,
    seconds_in_range,
    show,
)

BATCH_COLUMNS = ("rank", "id", "path", "score", "guess", "label")
#: Columns every Label Studio CSV export has and no ll4al CSV needs.
LABEL_STUDIO_COLUMNS = {"annotation_id", "annotator", "created_at", "lead_time"}
_NEEDED = "a 'path' or 'id' column and a 'label' column (optional: 'annotator', 'seconds')"


def read_label_csv(path: Path, task: str) -> list[LabelRecord]:
    """Labels from a CSV file with a header row; one record per row, in file order.

    The key is the ``path`` column when there is one, else ``id``. Fields are stripped of
    surrounding whitespace (the key is kept as written too) and blank rows are ignored. In a
    batch file (one with a ``rank`` column, as ``write_batch_csv`` writes) a row whose label
    is still empty is skipped, so a half-labeled batch imports the rows done; anywhere else
    an empty label is an error, since a hand-made file with a hole in it is more likely a
    mistake than a plan.
    """
    if task == "detection":
        message = f"{path}: detection labels come as Label Studio JSON or VOC XML, not CSV"
        raise LabelFileError(message)
    if task != "classification":
        raise ValueError(f"unknown task {task!r}; CSV labels are for 'classification'")
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    unclosed = text.count('"') % 2 == 1  # a quote never closed: it swallows the lines after
    header: list[str] | None = None
    header_line = 0
    columns: dict[str, int] = {}
    records: list[LabelRecord] = []
    skipped = 0
    start = 1  # the line the next row starts on (a quoted field may span lines)
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            fields = [field.strip() for field in row]
            if not any(fields):
                continue
            if header is None:
                if set(fields) >= LABEL_STUDIO_COLUMNS:
                    raise LabelFileError(
                        f"{path}: line {line}: Label Studio's CSV export (its 'id' is a task "
                        "id, not an image): export as JSON and import that"
                    )
                header, header_line, columns = fields, line, _columns(fields, path, line)
                continue
            if unclosed and any("\n" in field or "\r" in field for field in row):
                raise LabelFileError(
                    f'{path}: line {line}: a quote (") opened on this line is not closed '
                    "before the line ends; close it, or remove it"
                )
            if len(fields) != len(header):
                message = f"{path}: line {line}: {len(fields)} fields, the header has {len(header)}"
                raise LabelFileError(message)
            label = fields[columns["label"]]
            if not label and "rank" in columns:
                skipped += 1
                continue
            records.append(_record(fields, row, columns, path, line))
    except csv.Error as err:
        raise LabelFileError(f"{path}: line {reader.line_num}: not valid CSV ({err})") from err
    if header is None:
        raise LabelFileError(f"{path}: line 1: empty file; it needs a header row with {_NEEDED}")
    if not records:
        if skipped:
            problem = "no row has a label yet (fill in the 'label' column)"
        else:
            problem = "a header but no label rows after it"
        message = f"{path}: line {header_line}: {problem}"
        raise LabelFileError(message)
    return records


def _columns(header: list[str], path: Path, line: int) -> dict[str, int]:
    """Column name -> position, for the header row; an error when a needed one is missing."""
    columns: dict[str, int] = {}
    for i, name in enumerate(header):
        name = name.lower()
        if name in columns:
            raise LabelFileError(f"{path}: line {line}: column {show(name)} appears twice")
        if name:
            columns[name] = i
    if "label" not in columns or not ("path" in columns or "id" in columns):
        message = f"{path}: line {line}: the header needs {_NEEDED}; found {show(header)}"
        if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
            message += " (separate the columns with commas)"
        raise LabelFileError(message)
    return columns


def _record(
    fields: list[str], row: list[str], columns: dict[str, int], path: Path, line: int
) -> LabelRecord:
    """One data row as a record; an empty key or label, or bad seconds, is an error. The
    key is kept as written (``row``), spaces too: an image's name may start with one
    (``check_records`` tries it as written, then stripped)."""
    key_column = "path" if "path" in columns else "id"
    key = fields[columns[key_column]]
    label = fields[columns["label"]]
    if not key:
        raise LabelFileError(f"{path}: line {line}: empty {key_column!r}")
    key = row[columns[key_column]]
    if not label:
        raise LabelFileError(f"{path}: line {line}: empty 'label'")
    annotator = fields[columns["annotator"]] if "annotator" in columns else ""
    text = fields[columns["seconds"]] if "seconds" in columns else ""
    seconds = None
    if text:
        try:
            seconds = float(text)
        except ValueError:
            seconds = math.nan
        seconds = seconds_in_range(seconds, text, path, f"line {line}")
    return LabelRecord(key, label, annotator, seconds, f"line {line}")


def write_batch_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """A batch to label as ``rank,id,path,score,guess,label``, with ``label`` left empty.

    Each row has ``id``, ``path``, ``score`` (float or None) and ``guess`` (class name or
    None; anything else, e.g. a detector's boxes, is written as compact JSON) and may have
    ``rank`` (default: its 1-based position). Written atomically, so an interrupted command
    never leaves a truncated batch that would import as a partial one.
    """
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(BATCH_COLUMNS)
        for position, row in enumerate(rows, 1):
            score = row.get("score")
            guess = row.get("guess")
            writer.writerow(
                [
                    row.get("rank", position),
                    row["id"],
                    row["path"],
                    "" if score is None else f"{score:.6g}",
                    _guess_text(guess),
                    "",
                ]
            )


def _guess_text(guess: Any) -> str:
    if guess is None:
        return ""
    if isinstance(guess, str):
        return guess
    return json.dumps(guess, separators=(",", ":"))
