"""A labeling project's label kinds, one per task: check a label, encode it for training,
decode the model's guess. Free of torch, so that ``ll4al import`` and ``status`` start fast;
``task()`` imports the task adapter only when a model is needed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ll4al.text import show

if TYPE_CHECKING:
    from ll4al.tasks.classification import ClassificationTask
    from ll4al.tasks.detection import DetectionTask

Kind = TypeVar("Kind", bound="LabelKind")


class LabelKind:
    """What every label kind has: the primary metric, known without importing the task."""

    #: The task's ``metric_name`` (or the project's ``metric``), known without importing the
    #: task (a test pins the two).
    metric_name: str

    def with_metric(self: Kind, name: str | None) -> Kind:
        """This kind reporting ``name`` (a project's ``metric``; None: the task's own), so
        ``status`` and the page name the metric the rounds report; ``task()`` passes it to
        ``TaskAdapter.with_metric``, which refuses a name that is not one of the task's."""
        if name is not None:
            self.metric_name = name
        return self


class ClassLabels(LabelKind):
    """A labeling project's classification labels: a class name per image.

    Stored as the name (readable in exports, stable if classes are reordered); trained on as
    the name's index in ``classes``.
    """

    task_name = "classification"
    metric_name = "accuracy"

    def __init__(self, classes: Sequence[str]) -> None:
        self.classes = list(classes)

    def task(self) -> ClassificationTask:
        from ll4al.tasks.classification import ClassificationTask

        return ClassificationTask().with_metric(self.metric_name)

    def problem(self, value: Any, width: int, height: int) -> str | None:
        """Why ``value`` is not a label of this project, or None if it is."""
        if not isinstance(value, str):
            return f"expected a class name, got {type(value).__name__} (a file of another task?)"
        if value not in self.classes:
            return (
                f"unknown class {show(value)}; the project's classes are {', '.join(self.classes)}"
            )
        return None

    def to_target(self, value: str, width: int, height: int, stored_size: int) -> int:
        return self.classes.index(value)

    def from_guess(self, guess: int, width: int, height: int, stored_size: int) -> str:
        return self.classes[int(guess)]


class BoxLabels(LabelKind):
    """A labeling project's detection labels: ``{"boxes": [[x1, y1, x2, y2], ...], "labels":
    [class names]}`` in pixels of the original image (continuous coordinates).

    Stored in original pixels so exports (VOC, Label Studio) match the files; trained on
    scaled to the stored square image, labels as 1 + the class's index (0 is background).
    """

    task_name = "detection"
    metric_name = "map50"

    def __init__(self, classes: Sequence[str], min_score: float = 0.3, max_boxes: int = 50) -> None:
        self.classes = list(classes)
        self.min_score = min_score
        self.max_boxes = max_boxes

    def task(self) -> DetectionTask:
        from ll4al.tasks.detection import DetectionTask

        return DetectionTask(self.classes).with_metric(self.metric_name)

    def problem(self, value: Any, width: int, height: int) -> str | None:
        """Why ``value`` is not a label of this project, or None if it is."""
        if not isinstance(value, dict) or set(value) - {"boxes", "labels"}:
            return "expected boxes and labels (a file of another task?)"
        boxes, labels = value.get("boxes", []), value.get("labels", [])
        if len(boxes) != len(labels):
            return f"{len(boxes)} boxes but {len(labels)} labels"
        for box, name in zip(boxes, labels, strict=True):
            if name not in self.classes:
                known = ", ".join(self.classes)
                return f"unknown class {show(name)}; the project's classes are {known}"
            if len(box) != 4:
                return f"a box needs 4 coordinates, got {box}"
            x1, y1, x2, y2 = box
            if not (0 <= x1 < x2 <= width + 0.5 and 0 <= y1 < y2 <= height + 0.5):
                return f"box {box} is outside the {width}x{height} image or empty"
        return None

    def to_target(
        self, value: dict[str, list], width: int, height: int, stored_size: int
    ) -> dict[str, list]:
        sx, sy = stored_size / width, stored_size / height
        return {
            "boxes": [
                [
                    min(x1, width) * sx,
                    min(y1, height) * sy,
                    min(x2, width) * sx,
                    min(y2, height) * sy,
                ]
                for x1, y1, x2, y2 in value["boxes"]
            ],
            "labels": [1 + self.classes.index(name) for name in value["labels"]],
        }

    def from_guess(
        self, guess: dict[str, list], width: int, height: int, stored_size: int
    ) -> dict[str, list]:
        """The detector's boxes in original pixels (0.1 px), those scoring at least
        ``min_score``, at most ``max_boxes``: what an annotator can usefully correct."""
        sx, sy = width / stored_size, height / stored_size
        kept = [
            (box, label, score)
            for box, label, score in zip(
                guess["boxes"], guess["labels"], guess["scores"], strict=True
            )
            if score >= self.min_score
        ][: self.max_boxes]
        return {
            "boxes": [
                [round(x1 * sx, 1), round(y1 * sy, 1), round(x2 * sx, 1), round(y2 * sy, 1)]
                for (x1, y1, x2, y2), _, _ in kept
            ],
            "labels": [self.classes[int(label) - 1] for _, label, _ in kept],
            "scores": [round(float(score), 4) for _, _, score in kept],
        }


#: The label kinds a labeling project can collect, by task name.
LABEL_KINDS: dict[str, type[ClassLabels] | type[BoxLabels]] = {
    ClassLabels.task_name: ClassLabels,
    BoxLabels.task_name: BoxLabels,
}
