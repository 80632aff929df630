"""Label file formats: CSV batches and labels, Label Studio tasks, configs and exports."""

from __future__ import annotations

import copy
import csv
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ll4al.project.csvlabels import read_label_csv, write_batch_csv
from ll4al.project.formats import LabelFileError, LabelRecord
from ll4al.project.labelstudio import (
    annotated_export,
    labeling_config,
    local_files_url,
    rank_score,
    read_export,
    tasks_json,
)


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def assert_error(call: Any, path: Path, *fragments: str) -> str:
    """The call raises a one-line LabelFileError naming the file and each fragment."""
    with pytest.raises(LabelFileError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- CSV ---------------------------------------------------------------------------------


def test_csv_reads_keys_labels_annotators_and_seconds(tmp_path: Path) -> None:
    text = (
        "\ufeffPath , Label,annotator,seconds\r\n"
        " cats/a.jpg ,cat , ann ,3.5\r\n"
        "\r\n"
        '"dogs/b,c.jpg",dog,,\r\n'
    )
    records = read_label_csv(write(tmp_path / "l.csv", text), "classification")
    assert records == [
        # the key as written (an image's name may start with a space); import strips it where
        # no image has that name
        LabelRecord(" cats/a.jpg ", "cat", "ann", 3.5, "line 2"),
        LabelRecord("dogs/b,c.jpg", "dog", "", None, "line 4"),
    ]


def test_csv_key_is_id_without_path_and_path_wins_with_both(tmp_path: Path) -> None:
    only_id = write(tmp_path / "id.csv", "id,label\n17,cat\n")
    assert [(r.key, r.value) for r in read_label_csv(only_id, "classification")] == [("17", "cat")]
    both = write(tmp_path / "both.csv", "label,id,path\ncat,17,x/a.jpg\n")
    assert [r.key for r in read_label_csv(both, "classification")] == ["x/a.jpg"]


def test_csv_line_numbers_count_lines_of_quoted_fields(tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", 'path,label\n"a\nb.jpg",cat\nc.jpg,\n')
    assert_error(lambda: read_label_csv(path, "classification"), path, "line 4", "empty 'label'")


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (b"path,label\na.jpg,caf\xe9\n", ("line 2", "not UTF-8")),
        (b"path,label\n\x89PNG\r\n\x1a\n\x00\x00", ("line 4", "binary")),
        ("", ("line 1", "empty file", "'path' or 'id'", "'label'")),
        ("\n \n", ("line 1", "empty file")),
        ("a.jpg,cat\nb.jpg,dog\n", ("line 1", "needs", "'path' or 'id'", "'label'")),
        ("\npath,class\na.jpg,cat\n", ("line 2", "needs", "'label'", "'class'")),
        ("id,annotator\n1,x\n", ("line 1", "'path' or 'id'")),
        ("path;label\na.jpg;cat\n", ("line 1", "separate the columns with commas")),
        (  # Label Studio 1.23's CSV export of a classification project
            "annotation_id,annotator,created_at,id,image,label,lead_time,ll4al_id,updated_at\n"
            "7,1,2026-12-07T10:00:00Z,1,/data/local-files/?d=x/a.png,cat,3.2,x/a.png,2026\n",
            ("line 1", "Label Studio's CSV export", "export as JSON"),
        ),
        ("path,label,Label\na.jpg,cat,dog\n", ("line 1", "'label' appears twice")),
        ("path,label\na.jpg,cat\nb.jpg,cat,extra\n", ("line 3", "3 fields", "header has 2")),
        ("path,label\na.jpg\n", ("line 2", "1 fields")),
        ("path,label\n  ,cat\n", ("line 2", "empty 'path'")),
        ("id,label\n7,\n", ("line 2", "empty 'label'")),
        ("path,label,seconds\na.jpg,cat,abc\n", ("line 2", "seconds 'abc'")),
        ("path,label,seconds\na.jpg,cat,-1\n", ("line 2", "seconds '-1'")),
        ("path,label,seconds\na.jpg,cat,nan\n", ("line 2", "seconds 'nan'")),
        ("path,label,seconds\na.jpg,cat,inf\n", ("line 2", "seconds 'inf'")),
        ("path,label,seconds\na.jpg,cat,1e999\n", ("line 2", "seconds '1e999'")),
        ("path,label\n", ("line 1", "no label rows")),
        ('path,label\na.jpg,"' + "x" * 200_000 + '"\n', ("line 2", "not valid CSV")),
    ],
)
def test_csv_rejections_name_file_and_line(
    tmp_path: Path, content: str | bytes, fragments: tuple[str, ...]
) -> None:
    path = write(tmp_path / "labels.csv", content)
    assert_error(lambda: read_label_csv(path, "classification"), path, *fragments)


def test_csv_missing_file_and_detection_are_label_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    assert_error(lambda: read_label_csv(missing, "classification"), missing, "cannot be read")
    path = write(tmp_path / "boxes.csv", "path,label\na.jpg,cat\n")
    assert_error(lambda: read_label_csv(path, "detection"), path, "Label Studio JSON", "VOC")


def test_batch_csv_partly_filled_reads_back_only_the_labeled_rows(tmp_path: Path) -> None:
    rows = [
        {"rank": 1, "id": "0", "path": "img/a.jpg", "score": 0.123456789, "guess": "cat"},
        {"rank": 2, "id": "1", "path": "img/b, c.jpg", "score": None, "guess": None},
        {"rank": 3, "id": "2", "path": "img/d.jpg", "score": 12345678.0, "guess": "dog"},
        {"rank": 4, "id": "3", "path": "img/e.jpg", "score": 1e-9, "guess": "cat"},
    ]
    path = tmp_path / "batch" / "batch-1.csv"
    write_batch_csv(path, rows)
    assert [p.name for p in path.parent.iterdir()] == ["batch-1.csv"]  # no temporary left
    with path.open(newline="", encoding="utf-8") as file:
        table = list(csv.reader(file))
    assert table[0] == ["rank", "id", "path", "score", "guess", "label"]
    assert [r[3] for r in table[1:]] == ["0.123457", "", "1.23457e+07", "1e-09"]
    assert [r[4] for r in table[1:]] == ["cat", "", "dog", "cat"]
    assert all(r[5] == "" for r in table[1:])
    assert_error(lambda: read_label_csv(path, "classification"), path, "line 1", "no row has")

    table[1][5] = "cat"  # the annotator fills two rows, as a spreadsheet would save them
    table[2][5] = " dog "
    with path.open("w", newline="", encoding="utf-8-sig") as file:
        csv.writer(file).writerows(table)
    records = read_label_csv(path, "classification")
    assert [(r.key, r.value, r.where) for r in records] == [
        ("img/a.jpg", "cat", "line 2"),
        ("img/b, c.jpg", "dog", "line 3"),
    ]


# --- Label Studio: configs and tasks -----------------------------------------------------


@pytest.mark.parametrize(
    ("task", "tag", "option"),
    [("classification", "Choices", "Choice"), ("detection", "RectangleLabels", "Label")],
)
def test_labeling_config_names_the_control_label_on_image(task: str, tag: str, option: str) -> None:
    classes = ["RBC", 'a "quoted" & <odd> name']
    root = ET.fromstring(labeling_config(task, classes))
    assert root.tag == "View"
    image = root.find("Image")
    assert image is not None and image.get("name") == "image" and image.get("value") == "$image"
    control = root.find(tag)
    assert control is not None
    assert (control.get("name"), control.get("toName")) == ("label", "image")
    assert [o.get("value") for o in control.findall(option)] == classes
    with pytest.raises(ValueError):
        labeling_config(task, [])


def test_local_files_url_quotes_the_path() -> None:
    assert local_files_url("a b/c#1.jpg") == "/data/local-files/?d=a%20b/c%231.jpg"


def test_tasks_json_classification() -> None:
    items = [
        {"id": "0", "path": "x/a.jpg", "score": 0.9, "guess": "cat", "width": 32, "height": 32},
        {"id": "1", "path": "x/b.jpg", "score": 0.5, "guess": None, "width": 32, "height": 32},
    ]
    tasks = tasks_json(items, "classification", "ll4al-round-2")
    assert tasks[0] == {
        "data": {
            "image": "/data/local-files/?d=x/a.jpg",
            "ll4al_id": "0",
            "ll4al_path": "x/a.jpg",
            "ll4al_score": 0.9,
            "ll4al_rank": 1,
        },
        "predictions": [
            {
                "model_version": "ll4al-round-2",
                "score": 1.0,
                "result": [
                    {
                        "from_name": "label",
                        "to_name": "image",
                        "type": "choices",
                        "value": {"choices": ["cat"]},
                    }
                ],
            }
        ],
    }
    assert "predictions" not in tasks[1]
    json.dumps(tasks, allow_nan=False)  # what Label Studio imports is strict JSON
    custom = tasks_json(items, "classification", "v", image_url=lambda p: f"http://h/{p}")
    assert custom[1]["data"]["image"] == "http://h/x/b.jpg"


def test_prediction_scores_are_in_0_1_and_keep_the_batch_order() -> None:
    # raw predicted losses, unbounded and (for a balanced strategy) not in batch order
    raw = [-6.4, -1.0, -3.5, 14.1, 9.5]
    items = [
        {"id": str(i), "path": f"{i}.png", "score": s, "guess": "cat", "width": 8, "height": 8}
        for i, s in enumerate(raw)
    ]
    tasks = tasks_json(items, "classification", "v", project_id="p-1")
    scores = [t["predictions"][0]["score"] for t in tasks]
    assert all(0 < s <= 1 for s in scores) and scores[0] == 1.0
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores)
    assert [t["data"]["ll4al_score"] for t in tasks] == raw  # the strategy's own number kept
    assert [t["data"]["ll4al_rank"] for t in tasks] == [1, 2, 3, 4, 5]
    assert {t["data"]["ll4al_project"] for t in tasks} == {"p-1"}
    assert rank_score(5, 5) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        rank_score(6, 5)


def play_annotator(tasks: list[dict[str, Any]], answers: list[dict[str, Any]]) -> list[dict]:
    """What Label Studio exports after annotators answered each task (the test's part)."""
    export = []
    for number, (entry, answer) in enumerate(zip(tasks, answers, strict=True), 1):
        annotations = []
        for a_number, (who, result, cancelled) in enumerate(answer["annotations"], 1):
            annotations.append(
                {
                    "id": 100 * number + a_number,
                    "completed_by": who,
                    "result": result,
                    "was_cancelled": cancelled,
                    "ground_truth": False,
                    "lead_time": 4.25 * a_number,
                    "created_at": "2024-05-01T10:00:00.000000Z",
                    "prediction": {},
                }
            )
        export.append(
            {
                "id": 40 + number,
                "data": copy.deepcopy(entry["data"]),
                "annotations": annotations,
                "predictions": copy.deepcopy(entry.get("predictions", [])),
                "drafts": [],
            }
        )
    return export


def accepted(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The prediction's regions as an annotator who accepts them submits them (no scores)."""
    result = copy.deepcopy(entry["predictions"][0]["result"])
    for region in result:
        region.pop("score", None)
        region["id"] = f"r{id(region) % 10_000}"
        region["origin"] = "prediction"
    return result


def ls(annotation: int) -> str:
    """The ref of a Label Studio annotation."""
    return f"label-studio:{annotation}"


def test_classification_round_trip(tmp_path: Path) -> None:
    items = [
        {"id": str(i), "path": f"pets/{name}.jpg", "score": 1.0 - i / 10, "guess": guess}
        for i, (name, guess) in enumerate([("a", "cat"), ("b é", "dog"), ("c", None), ("d", "cat")])
    ]
    tasks = tasks_json(items, "classification", "v1")
    choice = tasks[0]["predictions"][0]["result"]
    dog = [{**choice[0], "value": {"choices": ["dog"]}}]
    answers = [
        {"annotations": [(7, accepted(tasks[0]), False)]},
        {"annotations": [({"id": 3, "email": "ann@lab.org"}, dog, False), (8, [], True)]},
        {"annotations": []},
        {"annotations": [(None, dog, False)]},
    ]
    path = write(tmp_path / "export.json", json.dumps(play_annotator(tasks, answers)))
    records = read_export(path, "classification")
    assert records == [
        LabelRecord("0", "cat", "7", 4.25, "task 41 annotation 101", ref="label-studio:101"),
        LabelRecord("1", "dog", "ann@lab.org", 4.25, "task 42 annotation 201", ref=ls(201)),
        LabelRecord("1", None, "8", 8.5, "task 42 annotation 202", cancelled=True, ref=ls(202)),
        LabelRecord("3", "dog", "", 4.25, "task 44 annotation 401", ref=ls(401)),
    ]


def test_detection_round_trip_within_a_pixel(tmp_path: Path) -> None:
    guesses = [
        (640, 480, [[0, 0, 640, 480], [600.5, 400.25, 640, 480], [0, 100, 33.3, 479.9]]),
        (480, 640, [[0, 0, 1, 1], [479, 639, 480, 640], [10.7, 20.2, 470.1, 630.9]]),
        (1000, 3, [[0, 0, 1000, 3]]),
        (640, 480, []),
    ]
    items = [
        {
            "id": f"s{i}",
            "path": f"blood/{i}.png",
            "score": 0.5,
            "guess": {
                "boxes": boxes,
                "labels": ["RBC", "WBC", "Platelets"][: len(boxes)],
                "scores": [0.9, 0.8, 0.7][: len(boxes)],
            },
            "width": width,
            "height": height,
        }
        for i, (width, height, boxes) in enumerate(guesses)
    ]
    tasks = tasks_json(items, "detection", "ssd-1")
    region = tasks[0]["predictions"][0]["result"][1]
    assert region["type"] == "rectanglelabels" and region["score"] == 0.8
    assert (region["original_width"], region["original_height"]) == (640, 480)
    assert region["value"]["rotation"] == 0 and region["value"]["rectanglelabels"] == ["WBC"]
    assert region["value"]["x"] == pytest.approx(100 * 600.5 / 640)
    assert region["value"]["height"] == pytest.approx(100 * 79.75 / 480)
    json.dumps(tasks, allow_nan=False)

    # Label Studio stores rounded percentages; the annotator accepts all, one also skips.
    answers = []
    for entry in tasks:
        result = accepted(entry)
        for r in result:
            r["value"].update({k: round(r["value"][k], 4) for k in ("x", "y", "width", "height")})
        answers.append({"annotations": [({"email": "a@b.c"}, result, False)]})
    answers[3]["annotations"].append((5, [], True))
    path = write(tmp_path / "export.json", json.dumps(play_annotator(tasks, answers)))
    records = read_export(path, "detection")

    assert [(r.key, r.cancelled) for r in records] == [
        ("s0", False),
        ("s1", False),
        ("s2", False),
        ("s3", False),
        ("s3", True),
    ]
    assert records[3].value == {"boxes": [], "labels": []}
    assert records[4].value is None
    for record, item in zip(records, items, strict=False):
        assert record.annotator == "a@b.c"
        assert record.value["labels"] == item["guess"]["labels"]
        for got, want in zip(record.value["boxes"], item["guess"]["boxes"], strict=True):
            assert got == pytest.approx(want, abs=1.0)
            x1, y1, x2, y2 = got
            assert 0 <= x1 < x2 <= item["width"] and 0 <= y1 < y2 <= item["height"]


@pytest.mark.parametrize("task", ["classification", "detection"])
def test_annotated_export_is_read_back(tmp_path: Path, task: str) -> None:
    if task == "classification":
        values = ["cat", "dog", "cat"]
    else:
        values = [
            {"boxes": [[0.0, 0.0, 640.0, 480.0], [10.0, 20.5, 30.25, 40.0]], "labels": ["a", "b"]},
            {"boxes": [], "labels": []},
            {"boxes": [[1.0, 2.0, 3.0, 4.0]], "labels": ["a"]},
        ]
    stored = [
        {"id": "0", "path": "a.jpg", "value": values[0], "annotator": "12", "seconds": 2.0},
        {"id": "1", "path": "d/b.jpg", "value": values[1], "annotator": "x@y.z", "seconds": None},
        {"id": "0", "path": "a.jpg", "value": values[2], "annotator": "", "seconds": 0.0},
    ]
    for record in stored:
        record.update(width=640, height=480)
    export = annotated_export(stored, task)
    assert [len(t["annotations"]) for t in export] == [2, 1]
    path = write(tmp_path / "ls.json", json.dumps(export, allow_nan=False))
    records = read_export(path, task)
    assert [r.key for r in records] == ["0", "0", "1"]
    by_order = [stored[0], stored[2], stored[1]]
    assert [r.annotator for r in records] == [s["annotator"] for s in by_order]
    assert [r.seconds for r in records] == [s["seconds"] for s in by_order]
    for record, original in zip(records, by_order, strict=True):
        if task == "classification":
            assert record.value == original["value"]
        else:
            assert record.value["labels"] == original["value"]["labels"]
            got, want = record.value["boxes"], original["value"]["boxes"]
            assert len(got) == len(want)
            for g, w in zip(got, want, strict=True):
                assert g == pytest.approx(w, abs=1e-6)


def test_export_keys_fall_back_to_path_then_url(tmp_path: Path) -> None:
    choice = [{"type": "choices", "value": {"choices": ["cat"]}}]
    export = [
        {"id": 1, "data": {"ll4al_path": "p/a.jpg", "image": "/x/y.jpg"}, "annotations": []},
        {"id": 2, "data": {"ll4al_path": "p/a.jpg", "image": "/x/y.jpg"}},
        {"id": 3, "data": {"image": local_files_url("sub dir/b#1.jpg")}},
        {"id": 4, "data": {"image": "http://host/images/c%20d.jpg?token=1"}},
        {"id": 5, "data": {"ll4al_id": 12, "ll4al_path": "ignored.jpg"}},
        {"id": 6, "data": {"image": "s3://bucket/deep/e.png"}},
    ]
    for entry in export[1:]:
        entry["annotations"] = [{"result": choice}]
    path = write(tmp_path / "export.json", json.dumps(export))
    records = read_export(path, "classification")
    assert [r.key for r in records] == ["p/a.jpg", "sub dir/b#1.jpg", "c d.jpg", "12", "e.png"]
    assert {(r.annotator, r.seconds, r.cancelled) for r in records} == {("", None, False)}


def test_a_box_over_the_edge_by_rounding_is_clipped(tmp_path: Path) -> None:
    # 0.05 px past the right edge (Label Studio's rounded percentages): kept, clipped
    export = one_task([rect(value={"x": 50, "width": 50.0078125})])
    path = write(tmp_path / "export.json", json.dumps(export))
    (record,) = read_export(path, "detection")
    assert record.value["boxes"] == [[320.0, 48.0, 640.0, 144.0]]


def rect(**changes: Any) -> dict[str, Any]:
    value = {"x": 10, "y": 10, "width": 20, "height": 20, "rotation": 0, "rectanglelabels": ["a"]}
    region = {"type": "rectanglelabels", "original_width": 640, "original_height": 480}
    region["value"] = {**value, **changes.pop("value", {})}
    return {**region, **changes}


def one_task(result: Any, **annotation: Any) -> list[dict[str, Any]]:
    return [
        {"id": 17, "data": {"ll4al_id": "0"}, "annotations": [{"result": result, **annotation}]}
    ]


@pytest.mark.parametrize(
    ("content", "task", "fragments"),
    [
        ("{not json", "classification", ("line 1 column 2", "not JSON")),
        (b"\xff\xfe[]", "classification", ("UTF-8",)),
        ('{"data": {}}', "classification", ("not a list of tasks",)),
        ("[[]]", "detection", ("task at position 1", "no 'data'")),
        ('[{"id": 17, "image": "a.jpg"}]', "classification", ("task 17", "no 'data'", "JSON_MIN")),
        ('[{"id": 17, "data": {"text": "x"}}]', "classification", ("task 17", "'image'")),
        ('[{"id": 17, "data": {"ll4al_id": ""}}]', "classification", ("task 17", "ll4al_id")),
        (one_task([]), "classification", ("task 17 annotation #1", "no choice")),
        (one_task([rect()]), "classification", ("task 17", "a file of another task")),
        (one_task([{"type": "textarea", "value": {}}]), "detection", ("unknown result shape",)),
        (one_task([{"value": {}}]), "detection", ("region 1", "unknown result shape")),
        (one_task([rect(value={"rotation": 30})]), "detection", ("region 1", "rotated boxes")),
        (one_task([rect(), rect(image_rotation=90)]), "detection", ("region 2", "rotated")),
        (one_task([rect(original_width=None)]), "detection", ("original_width",)),
        (one_task([rect(value={"x": "1"})]), "detection", ("task 17", "not all numbers")),
        (one_task([rect(value={"width": 0})]), "detection", ("task 17", "no area")),
        (one_task([rect(value={"x": 120})]), "detection", ("task 17", "past the image edge")),
        (one_task([rect(value={"x": 85})]), "detection", ("region 1", "past the image edge")),
        (one_task([rect(value={"y": -1})]), "detection", ("640x480 px",)),
        (
            '[{"id": 17, "data": {"ll4al_id": "0", "ll4al_project": 3}}]',
            "classification",
            ("task 17", "ll4al_project 3"),
        ),
        (one_task([rect(value={"rectanglelabels": []})]), "detection", ("rectanglelabels",)),
        (one_task([], lead_time=-2), "detection", ("task 17", "seconds -2")),
        (one_task([], was_cancelled="yes"), "detection", ("task 17", "was_cancelled")),
        (one_task("cat"), "classification", ("task 17", "'result' is not a list")),
        (
            one_task([{"type": "choices", "value": {"choices": ["a", "b"]}}]),
            "classification",
            ("task 17", "not a list of one class name"),
        ),
    ],
)
def test_export_rejections_name_file_and_task(
    tmp_path: Path, content: Any, task: str, fragments: tuple[str, ...]
) -> None:
    if not isinstance(content, str | bytes):
        content = json.dumps(content)
    path = write(tmp_path / "export.json", content)
    assert_error(lambda: read_export(path, task), path, *fragments)


def test_export_without_annotations_gives_nothing_and_skips_need_no_result(
    tmp_path: Path,
) -> None:
    empty = write(tmp_path / "empty.json", json.dumps([{"data": {"ll4al_id": "0"}}]))
    assert read_export(empty, "detection") == []
    skipped = write(tmp_path / "skip.json", json.dumps(one_task([], was_cancelled=True)))
    (record,) = read_export(skipped, "classification")
    assert record.cancelled and record.value is None


# --- fuzz: nothing but LabelFileError, whatever the file holds ---------------------------

KEYS = [
    "data",
    "annotations",
    "result",
    "type",
    "value",
    "choices",
    "rectanglelabels",
    "x",
    "y",
    "width",
    "height",
    "rotation",
    "original_width",
    "original_height",
    "image_rotation",
    "completed_by",
    "lead_time",
    "was_cancelled",
    "ll4al_id",
    "ll4al_path",
    "image",
    "id",
    "email",
    "path",
    "label",
    "seconds",
    "annotator",
    "rank",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["choices", "rectanglelabels", "cat", "/data/local-files/?d=a%2Fb.jpg"])
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=6)
    ),
    max_leaves=30,
)
CSV_FIELD = st.sampled_from(KEYS + ["", " ", '"', "a,b", "1.5", "-1", "nan", "\r", "\n"]) | st.text(
    max_size=5
)
CSV_TEXT = st.lists(st.lists(CSV_FIELD, max_size=6), max_size=6).map(
    lambda rows: "\n".join(",".join(row) for row in rows)
)
NUMBER = st.floats(min_value=-10, max_value=110) | SCALARS
REGION = st.fixed_dictionaries(
    {"type": st.sampled_from(["choices", "rectanglelabels"]) | SCALARS},
    optional={
        "value": st.fixed_dictionaries(
            {},
            optional={
                "x": NUMBER,
                "y": NUMBER,
                "width": NUMBER,
                "height": NUMBER,
                "rotation": st.sampled_from([0, 0.0, 90]) | SCALARS,
                "rectanglelabels": st.lists(SCALARS, max_size=2),
                "choices": st.lists(SCALARS, max_size=2),
            },
        )
        | JSONISH,
        "original_width": st.sampled_from([640, 480.5]) | SCALARS,
        "original_height": st.sampled_from([640, 480.5]) | SCALARS,
        "image_rotation": st.sampled_from([0, 90]) | SCALARS,
    },
)
FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def only_label_file_errors(path: Path, content: str | bytes) -> None:
    write(path, content)
    for task in ("classification", "detection"):
        for reader in (read_label_csv, read_export):
            try:
                records = reader(path, task)
            except LabelFileError as err:
                assert "\n" not in str(err) and str(path) in str(err)
                continue
            assert isinstance(records, list)
            for record in records:
                assert isinstance(record, LabelRecord)
                assert isinstance(record.key, str) and record.key
                assert record.seconds is None or math.isfinite(record.seconds)


@FUZZ
@given(content=st.binary(max_size=200))
def test_fuzz_bytes(tmp_path: Path, content: bytes) -> None:
    only_label_file_errors(tmp_path / "fuzz.txt", content)


@FUZZ
@given(content=st.text(max_size=200) | CSV_TEXT)
def test_fuzz_text(tmp_path: Path, content: str) -> None:
    only_label_file_errors(tmp_path / "fuzz.txt", content)


@FUZZ
@given(content=JSONISH | st.lists(JSONISH, max_size=3))
def test_fuzz_json(tmp_path: Path, content: Any) -> None:
    only_label_file_errors(tmp_path / "fuzz.json", json.dumps(content))


@FUZZ
@given(
    answers=st.lists(
        st.fixed_dictionaries(
            {"result": st.lists(REGION | JSONISH, max_size=3)},
            optional={"completed_by": JSONISH, "lead_time": SCALARS, "was_cancelled": SCALARS},
        ),
        max_size=3,
    ),
    image=SCALARS,
)
def test_fuzz_export_shaped(tmp_path: Path, answers: list[dict[str, Any]], image: Any) -> None:
    """Structures close to an export, so the fuzzing reaches the result parsing."""
    export = [{"id": 1, "data": {"image": image}, "annotations": answers}]
    only_label_file_errors(tmp_path / "fuzz.json", json.dumps(export))


def test_label_studio_voc_export_keeps_its_pixels_and_drops_its_prefix(tmp_path: Path) -> None:
    from ll4al.project.voclabels import read_voc

    # a file of Label Studio 1.23.2's VOC export (abridged): a box drawn at x 21..47, y 22..42
    text = """<?xml version="1.0" encoding="utf-8"?>
<annotation><folder>images</folder><filename>1e557b1c__img0.png</filename>
<source><database>MyDatabase</database><annotator>1</annotator></source>
<owner><flickrid>NULL</flickrid><name>Label Studio</name></owner>
<size><width>80</width><height>60</height><depth>3</depth></size><segmented>0</segmented>
<object><name>cell</name><pose>Unspecified</pose><truncated>0</truncated>
<difficult>0</difficult><bndbox><xmin>0</xmin><ymin>22</ymin><xmax>47</xmax><ymax>42</ymax>
</bndbox></object></annotation>"""
    path = write(tmp_path / "1e557b1c__img0.xml", text)
    (record,) = read_voc(path, ["cell", "debris"])
    assert record.key == "img0.png" and record.annotator == "1"
    assert record.value == {"boxes": [[0.0, 22.0, 47.0, 42.0]], "labels": ["cell"]}  # not -1
    write(path, text.replace("<xmax>47</xmax>", "<xmax>81</xmax>"))
    assert_error(
        lambda: read_voc(path, ["cell", "debris"]), path, "object 1", "not inside the 80x60"
    )
