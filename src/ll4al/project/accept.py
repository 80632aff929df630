"""The one way a label enters a project: checked against its image, then stored.

Every label writer goes through ``accept_labels``: ``ll4al import`` (CSV, Label Studio, VOC)
and the labeling page. A writer may call ``label_problem`` earlier, to report problems in its
own order (a file's first bad line), but only ``accept_labels`` writes, and it checks again,
so no writer can store a label the project's label kind refuses.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ll4al.project.store import NewLabel, Sample, Store

if TYPE_CHECKING:
    from ll4al.tasks import BoxLabels, ClassLabels


class LabelRefused(ValueError):
    """A label the project cannot take; ``position`` is its place in what was offered."""

    def __init__(self, position: int, problem: str) -> None:
        super().__init__(problem)
        self.position, self.problem = position, problem


def finite_number(value: Any) -> bool:
    """A JSON number that is finite (not a bool, NaN or infinity)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _malformed(value: Any, task: str) -> str | None:
    """Type errors in a detection value that ``BoxLabels.problem`` assumes away."""
    if task != "detection" or not isinstance(value, dict):
        return None
    boxes, names = value.get("boxes", []), value.get("labels", [])
    if not isinstance(boxes, list) or not isinstance(names, list):
        return "'boxes' and 'labels' must be lists"
    for box in boxes:
        if not isinstance(box, list) or len(box) != 4 or not all(map(finite_number, box)):
            return f"a box is 4 numbers [x1, y1, x2, y2], got {json.dumps(box)[:60]}"
    if not all(isinstance(name, str) for name in names):
        return "'labels' must be class names"
    return None


def label_problem(kind: ClassLabels | BoxLabels, sample: Sample, value: Any) -> str | None:
    """Why ``value`` is not a label of ``sample`` in a project of this label kind, or None."""
    return _malformed(value, kind.task_name) or kind.problem(value, sample.width, sample.height)


def accept_labels(
    store: Store,
    db: sqlite3.Connection,
    kind: ClassLabels | BoxLabels,
    labels: Sequence[tuple[Sample, NewLabel]],
) -> list[int | None]:
    """Check every label against its image, then store them in the caller's transaction
    ``db`` and close the batches they finish. The first problem raises ``LabelRefused``
    before anything is written. Returns each label's row id (None where the same sample,
    annotator and value was already stored, so offering a label twice changes nothing)."""
    for position, (sample, label) in enumerate(labels):
        problem = label_problem(kind, sample, label.value)
        if problem:
            raise LabelRefused(position, problem)
    ids = [store.add_label(db, label) for _, label in labels]
    store.close_finished_batches(db)
    return ids
