"""The labeling project: the human path through the CLI, and the rules of importing labels."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ll4al.cli import main
from ll4al.data.imagefolder import list_images
from ll4al.data.voc import parse_annotation, write_annotation
from ll4al.project.formats import LabelFileError
from ll4al.project.label_import import import_labels
from ll4al.project.project import Project, ProjectError

from ..helpers import set_args
from ..project_helpers import (
    TRAINING,
    answer_batch,
    export_digits,
    init_digits_project,
    label_studio_box,
    make_box_images,
    table,
)


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    return export_digits(tmp_path_factory.mktemp("digits"))


pytestmark = pytest.mark.usefixtures("private_cache")


def init(project: Path, digits: Path, *extra: str) -> None:
    settings = [*TRAINING, "active.subset=200"]
    args = init_digits_project(project, digits, 30, settings, "--strategy", "learning-loss", *extra)
    assert main(args) == 0


def label_round(project: Path, k: int, number: int) -> Path:
    assert main(["query", str(project), "--k", str(k), "--quiet"]) == 0
    batch = project / "batches" / f"batch-{number:03d}.csv"
    answers = answer_batch(batch, project.parent / f"answers-{number}.csv")
    assert main(["import", str(project), str(answers)]) == 0
    return answers


def test_the_human_path_picks_what_the_benchmark_picks(digits, tmp_path):
    """3 rounds through the CLI with a scripted annotator label exactly the images, in the
    same order, that ``ll4al run`` labels with the same seed and settings."""
    out = tmp_path / "run"
    benchmark = [
        *TRAINING,
        "data.name=imagefolder",
        f"data.root={digits}",
        "data.image_size=8",
        "active.initial=30",
        "active.query_size=20",
        "active.subset=200",
        "active.cycles=3",
        "strategies=[learning-loss]",
        "seeds=[0]",
    ]
    assert main(["run", "demo", "--out", str(out), "--quiet", *set_args(benchmark)]) == 0
    state = json.loads((out / "runs" / "learning-loss-seed0" / "state.json").read_text())
    paths = list_images(digits / "train")
    picked_by_run = [paths[i] for i, _ in state["pool"]["labeled"]]

    project = tmp_path / "project"
    init(project, digits)
    for number, k in enumerate((30, 20, 20), start=1):
        label_round(project, k, number)

    opened = Project.open(project)
    pool = opened.training_pool()
    samples = opened.pool_samples()
    picked_by_project = [samples[i].id for i in pool.labeled]
    opened.close()
    assert len(picked_by_run) == 70
    assert picked_by_project == picked_by_run
    batches = table(project, "batches")
    assert [(b[1], b[2], b[4]) for b in batches] == [
        ("random", None, "done"),
        ("learning-loss", 0, "done"),
        ("learning-loss", 1, "done"),
    ]
    assert sorted(p.name for p in (project / "models").iterdir()) == [
        "round-000-lpm.json",
        "round-000-lpm.pt",
        "round-001-lpm.json",
        "round-001-lpm.pt",
    ]
    trained = json.loads((project / "models" / "round-001-lpm.json").read_text())
    assert trained["mode"] == "finetune" and trained["encoder"] is None  # no encoder here


@pytest.fixture
def project(digits, tmp_path) -> Path:
    """A project with its first batch (a random draw of 30) proposed and not yet labeled."""
    folder = tmp_path / "project"
    init(folder, digits, "--cost-minutes", "4.5", "--cost-money", "25", "--currency", "RMB")
    assert main(["query", str(folder), "--k", "30", "--quiet"]) == 0
    return folder


def write_csv(path: Path, *rows: str, header: str = "path,label,annotator,seconds") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def first_batch(project: Path) -> list[str]:
    lines = (project / "batches" / "batch-001.csv").read_text().splitlines()[1:]
    return [line.split(",")[2] for line in lines]


def refused(project: Path, file: Path, capsys, *flags: str) -> str:
    """Import ``file``; assert it fails with one line and that nothing was written."""
    before = {name: table(project, name) for name in ("labels", "batches", "batch_items")}
    capsys.readouterr()
    assert main(["import", str(project), str(file), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ll4al: error:")
    assert {name: table(project, name) for name in before} == before
    return err


def test_import_refuses_an_unknown_image(project, tmp_path, capsys):
    good = first_batch(project)[0]
    bad = write_csv(tmp_path / "l.csv", f"{good},{good[0]},a,1", "9/nope.png,9,a,1")
    assert "line 3: unknown image '9/nope.png'" in refused(project, bad, capsys)


def test_import_refuses_an_unknown_class(project, tmp_path, capsys):
    good = first_batch(project)[0]
    bad = write_csv(tmp_path / "l.csv", f"{good},cat,a,1")
    assert "unknown class 'cat'" in refused(project, bad, capsys)


def test_import_refuses_a_malformed_csv(project, tmp_path, capsys):
    bad = write_csv(tmp_path / "l.csv", "a,b,c,d,e", header="path,label")
    assert "l.csv: line 2" in refused(project, bad, capsys)


def test_import_refuses_an_image_outside_any_batch_unless_asked(project, tmp_path, capsys):
    outside = next(
        p
        for p in list_images(Path(Project.open(project).settings.images))
        if p not in first_batch(project)
    )
    file = write_csv(tmp_path / "l.csv", f"{outside},{outside[0]},a,1")
    assert "in no batch ll4al proposed; pass --outside-batch" in refused(project, file, capsys)
    assert main(["import", str(project), str(file), "--outside-batch"]) == 0
    assert [row[1] for row in table(project, "labels")] == [outside]


def test_import_refuses_a_file_of_another_task(project, tmp_path, capsys):
    sample = first_batch(project)[0]
    export = [
        {
            "id": 1,
            "data": {"ll4al_id": sample},
            "annotations": [
                {
                    "id": 1,
                    "completed_by": 1,
                    "lead_time": 3.0,
                    "was_cancelled": False,
                    "result": [
                        {
                            "type": "rectanglelabels",
                            "from_name": "label",
                            "to_name": "image",
                            "original_width": 8,
                            "original_height": 8,
                            "value": {
                                "x": 0,
                                "y": 0,
                                "width": 50,
                                "height": 50,
                                "rotation": 0,
                                "rectanglelabels": ["1"],
                            },
                        }
                    ],
                }
            ],
        }
    ]
    file = tmp_path / "ls.json"
    file.write_text(json.dumps(export))
    assert "another task" in refused(project, file, capsys)


def test_reimporting_a_file_changes_nothing(project, tmp_path, capsys):
    answers = answer_batch(project / "batches" / "batch-001.csv", tmp_path / "a.csv")
    assert main(["import", str(project), str(answers)]) == 0
    labels = table(project, "labels")
    assert len(labels) == 30
    capsys.readouterr()
    assert main(["import", str(project), str(answers)]) == 0
    assert "0 new labels, 30 already imported" in capsys.readouterr().out
    assert table(project, "labels") == labels


def test_a_second_annotator_is_kept_reported_and_outvoted(project, tmp_path, capsys):
    a, b = first_batch(project)[:2]
    first = write_csv(tmp_path / "1.csv", f"{a},{a[0]},ann,5", f"{b},{b[0]},ann,5")
    second = write_csv(tmp_path / "2.csv", f"{a},{int(a[0]) ^ 1},bob,7")
    assert main(["import", str(project), str(first)]) == 0
    assert main(["import", str(project), str(second)]) == 0
    opened = Project.open(project)
    decided = opened.store.decided_labels()
    assert decided[a] == a[0]  # one vote each: the label given first wins the tie
    third = write_csv(tmp_path / "3.csv", f"{a},{int(a[0]) ^ 1},cy,2")
    assert main(["import", str(project), str(third)]) == 0
    assert opened.store.decided_labels()[a] == str(int(a[0]) ^ 1)  # two against one
    opened.close()
    capsys.readouterr()
    assert main(["status", str(project)]) == 0
    out = capsys.readouterr().out
    assert "annotators disagree on 1 images" in out and f"{a}: ann={a[0]}" in out
    assert "2/30 labeled, open" in out
    # 4 labels: 19 s measured; money at the configured 25 RMB a label
    assert "4 labels timed, 0.01 h measured" in out and "100.00 RMB" in out


def test_query_refuses_while_a_batch_is_open(project, capsys):
    capsys.readouterr()
    assert main(["query", str(project), "--k", "5", "--quiet"]) == 2
    assert "batch 1 still has 30 of 30 images without a label" in capsys.readouterr().err


def test_status_reports_the_rounds_metric_and_export_writes_every_format(digits, tmp_path, capsys):
    folder = tmp_path / "project"
    init(folder, digits, "--eval", str(digits / "test"))
    label_round(folder, 30, 1)
    label_round(folder, 10, 2)
    capsys.readouterr()
    assert main(["status", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "40 of 1257 images labeled" in out
    assert "last model (round 0, 30 labels): accuracy" in out
    info = json.loads(_status_json(folder, capsys))
    assert sum(info["per_class"].values()) == 40 and info["labels_timed"] == 40

    assert (
        main(["export", str(folder), "--format", "imagefolder", "--out", str(tmp_path / "folder")])
        == 0
    )
    exported = list_images(tmp_path / "folder")
    assert len(exported) == 40 and all(p.split("/")[0] == p.split("/")[1][0] for p in exported)
    assert main(["export", str(folder), "--format", "csv", "--out", str(tmp_path / "l.csv")]) == 0
    rows = (tmp_path / "l.csv").read_text().splitlines()
    assert rows[0] == "path,label" and len(rows) == 41
    assert (
        main(["export", str(folder), "--format", "labelstudio", "--out", str(tmp_path / "ls.json")])
        == 0
    )
    assert len(json.loads((tmp_path / "ls.json").read_text())) == 40
    capsys.readouterr()
    assert main(["export", str(folder), "--format", "voc", "--out", str(tmp_path / "v")]) == 2
    assert "voc is for detection" in capsys.readouterr().err


def _status_json(folder: Path, capsys) -> str:
    capsys.readouterr()
    assert main(["status", str(folder), "--json"]) == 0
    return capsys.readouterr().out


# --- a fuzzed import: the store holds the whole valid file, or nothing new ----------------

ROW = st.tuples(
    st.sampled_from(["batch", "batch", "batch", "unknown", "outside"]),
    st.sampled_from(["good", "good", "good", "cat", ""]),
    st.text(alphabet="abcxyz", min_size=0, max_size=4),
    st.one_of(st.floats(0, 1e4, allow_nan=False), st.sampled_from(["-1", "x", "nan"])),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(ROW, min_size=1, max_size=6), garbage=st.one_of(st.none(), st.text(max_size=30))
)
def test_a_fuzzed_import_writes_the_whole_valid_file_or_nothing(project, tmp_path, rows, garbage):
    opened = Project.open(project)
    batch = first_batch(project)
    outside = next(s.id for s in opened.pool_samples() if s.id not in batch)
    lines, expected, valid = [], set(), garbage is None
    for n, (which, label, annotator, seconds) in enumerate(rows):
        key = {"batch": batch[n % len(batch)], "unknown": "nope/x.png", "outside": outside}[which]
        value = key.split("/")[0] if label == "good" else label
        lines.append(f"{key},{value},{annotator},{seconds}")
        valid &= which == "batch" and label == "good" and isinstance(seconds, float)
        if isinstance(seconds, float):
            expected.add((key, json.dumps(value), annotator))
    if garbage is not None:
        lines.append(garbage)
    file = write_csv(tmp_path / "fuzz.csv", *lines)
    before = opened.store.labels()
    try:
        import_labels(opened, file, log=lambda _: None)
        succeeded = True
    except (LabelFileError, ProjectError):
        succeeded = False
    after = opened.store.labels()
    new = {(r["sample"], r["value"], r["annotator"]) for r in after[len(before) :]}
    if succeeded:
        assert after[: len(before)] == before
        # a label already given (same image, annotator and value) is not added again
        assert new == expected - {(r["sample"], r["value"], r["annotator"]) for r in before}
    else:
        assert after == before
    assert succeeded or not valid
    opened.close()


# --- Label Studio round trips ---------------------------------------------------------------


def play_label_studio(tasks: list[dict], answer) -> list[dict]:
    """What Label Studio exports once an annotator has answered every task: each task's
    data, and an annotation whose result is ``answer(task)``."""
    return [
        {
            "id": n,
            "data": task["data"],
            "annotations": [
                {
                    "id": 100 + n,
                    "completed_by": {"email": "expert@clinic.org"},
                    "lead_time": 12.5,
                    "was_cancelled": False,
                    "result": answer(task),
                }
            ],
        }
        for n, task in enumerate(tasks, start=1)
    ]


def test_label_studio_round_trip_for_classification(digits, tmp_path):
    folder = tmp_path / "project"
    init(folder, digits)
    label_round(folder, 30, 1)
    assert main(["query", str(folder), "--k", "10", "--quiet"]) == 0
    tasks = json.loads((folder / "batches" / "batch-002-labelstudio.json").read_text())
    assert len(tasks) == 10 and all(t["predictions"][0]["result"] for t in tasks)
    scores = [t["predictions"][0]["score"] for t in tasks]
    assert scores == sorted(scores, reverse=True)  # top-K by predicted loss, sortable

    def truth(task):  # the annotator corrects the model's guess where it is wrong
        name = task["data"]["ll4al_path"].split("/")[0]
        return [
            {
                "from_name": "label",
                "to_name": "image",
                "type": "choices",
                "value": {"choices": [name]},
            }
        ]

    export = tmp_path / "export.json"
    export.write_text(json.dumps(play_label_studio(tasks, truth)))
    assert main(["import", str(folder), str(export)]) == 0
    rows = [r for r in table(folder, "labels") if r[4] == 12.5]
    assert len(rows) == 10
    assert all(json.loads(r[2]) == r[1].split("/")[0] and r[3] == "expert@clinic.org" for r in rows)
    assert [b[4] for b in table(folder, "batches")] == ["done", "done"]


def init_smears(folder: Path, images: Path, *extra: str) -> None:
    """A detection project (cell, debris) on ``images``, stored at 64 px, 4 random first."""
    args = [
        "init",
        str(folder),
        "--images",
        str(images),
        "--task",
        "detection",
        "--classes",
        "cell,debris",
        "--image-size",
        "64",
        "--initial",
        "4",
        "--quiet",
    ]
    assert main([*args, *extra]) == 0


def test_label_studio_round_trip_for_detection(tmp_path, capsys):
    images = tmp_path / "smears"
    truth = {b["path"]: b["box"] for b in make_box_images(images, count=6, size=(80, 60))}
    folder = tmp_path / "project"
    init_smears(folder, images)
    assert main(["query", str(folder), "--k", "4", "--quiet"]) == 0
    tasks = json.loads((folder / "batches" / "batch-001-labelstudio.json").read_text())

    def boxes(task):  # drawn in Label Studio: percent of the original 80x60 image
        return [label_studio_box(truth[task["data"]["ll4al_path"]], "cell", (80, 60), 4)]

    export = tmp_path / "export.json"
    export.write_text(json.dumps(play_label_studio(tasks, boxes)))
    assert main(["import", str(folder), str(export)]) == 0
    stored = {r[1]: json.loads(r[2]) for r in table(folder, "labels")}
    assert len(stored) == 4
    for path, value in stored.items():
        assert value["labels"] == ["cell"]
        assert all(abs(a - b) <= 1 for a, b in zip(value["boxes"][0], truth[path], strict=True))

    assert main(["export", str(folder), "--format", "voc", "--out", str(tmp_path / "voc")]) == 0
    for path in stored:
        parsed = parse_annotation(
            tmp_path / "voc" / "Annotations" / f"{Path(path).stem}.xml", ["cell", "debris"]
        )
        assert parsed["labels"] == [1]
        assert all(abs(a - b) <= 1 for a, b in zip(parsed["boxes"][0], truth[path], strict=True))

    outside = tmp_path / "outside.json"  # a box past the image's right edge
    bad = play_label_studio(tasks[:1], boxes)
    bad[0]["annotations"][0]["result"][0]["original_width"] = 1000
    outside.write_text(json.dumps(bad))
    capsys.readouterr()
    assert main(["import", str(folder), str(outside)]) == 2
    assert "outside the 80x60 image" in capsys.readouterr().err


# --- kills: no half batch, no lost label ---------------------------------------------------

KILLER = """
import os, signal, sys
from ll4al.cli import main
from ll4al.project.store import Store

method = sys.argv[1]
original = getattr(Store, method)

def killed(self, db, *args, **kwargs):  # the rows are written, the transaction not committed
    original(self, db, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

setattr(Store, method, killed)
sys.exit(main(sys.argv[2:]))
"""


def killed_during(method: str, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", KILLER, method, *args], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == -signal.SIGKILL, result.stderr


def test_a_kill_during_query_or_import_leaves_no_half_batch_and_loses_no_label(
    digits, tmp_path, capsys
):
    folder = tmp_path / "project"
    init(folder, digits)
    first = label_round(folder, 30, 1)
    labels = table(folder, "labels")

    killed_during("add_batch", "query", str(folder), "--k", "10", "--quiet")
    assert len(table(folder, "batches")) == 1 and len(table(folder, "batch_items")) == 30
    assert table(folder, "labels") == labels
    written = (folder / "batches" / "batch-002.csv").read_bytes()  # files come first
    capsys.readouterr()
    assert main(["query", str(folder), "--k", "10", "--quiet"]) == 0
    assert "round 0: model loaded" in capsys.readouterr().out  # trained once, not again
    assert (folder / "batches" / "batch-002.csv").read_bytes() == written
    assert len(table(folder, "batch_items")) == 40

    answers = answer_batch(folder / "batches" / "batch-002.csv", tmp_path / "a2.csv")
    killed_during("close_finished_batches", "import", str(folder), str(answers))
    assert table(folder, "labels") == labels
    assert main(["import", str(folder), str(answers)]) == 0
    assert len(table(folder, "labels")) == 40
    assert main(["import", str(folder), str(first)]) == 0
    assert len(table(folder, "labels")) == 40


def test_detection_boxes_from_voc_files_and_a_trained_round(tmp_path, capsys):
    images = tmp_path / "smears"
    truth = {b["path"]: b["box"] for b in make_box_images(images, count=6, size=(80, 60))}
    voc = tmp_path / "annotations"
    for path, box in list(truth.items())[:4]:
        value = {"boxes": [[float(v) for v in box]], "labels": ["cell"]}
        write_annotation(voc / f"{Path(path).stem}.xml", path, 80, 60, value)
    folder = tmp_path / "project"
    init_smears(
        folder, images, "--labels", str(voc), *set_args(["train.epochs=1", "train.batch_size=4"])
    )
    stored = {r[1]: json.loads(r[2]) for r in table(folder, "labels")}
    assert {p: v["boxes"][0] for p, v in stored.items()} == {
        p: [float(v) for v in b] for p, b in list(truth.items())[:4]
    }
    capsys.readouterr()
    assert main(["query", str(folder), "--k", "2", "--quiet"]) == 0  # 4 labels: a model round
    assert "round 0: trained on 4 labels" in capsys.readouterr().out
    tasks = json.loads((folder / "batches" / "batch-001-labelstudio.json").read_text())
    assert len(tasks) == 2 and {t["data"]["ll4al_path"] for t in tasks} <= set(truth) - set(stored)
    for task in tasks:  # the detector's guesses, if confident enough, as percent boxes
        for region in task.get("predictions", [{"result": []}])[0]["result"]:
            assert region["type"] == "rectanglelabels" and region["score"] >= 0.3
            assert 0 <= region["value"]["x"] <= 100 and region["original_width"] == 80

    bad = tmp_path / "bad"
    write_annotation(
        bad / "x.xml", "img5.png", 80, 60, {"boxes": [[1.0, 1, 9, 9]], "labels": ["rbc"]}
    )
    capsys.readouterr()
    assert main(["import", str(folder), str(bad), "--outside-batch"]) == 2
    assert "unknown class 'rbc'" in capsys.readouterr().err


def test_init_refuses_an_unreadable_image_and_writes_no_project(tmp_path, capsys):
    images = tmp_path / "scans"
    make_box_images(images, count=2)
    (images / "broken.jpg").write_bytes(b"not an image")
    capsys.readouterr()
    assert main(["init", str(tmp_path / "p"), "--images", str(images), "--classes", "a,b"]) == 2
    err = capsys.readouterr().err
    assert "broken.jpg: not a readable image" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p" / "project.yaml").exists()


def test_images_added_to_the_folder_join_the_pool_after_its_last_row(tmp_path, capsys):
    images = tmp_path / "scans"
    make_box_images(images, count=4)
    folder = tmp_path / "project"
    assert (
        main(
            [
                "init",
                str(folder),
                "--images",
                str(images),
                "--classes",
                "a,b",
                "--initial",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    assert main(["query", str(folder), "--k", "2", "--quiet"]) == 0
    before = table(folder, "samples")
    make_box_images(tmp_path / "more", count=6)
    for n in (4, 5):  # two new files beside the old ones
        (images / f"img{n}.png").write_bytes((tmp_path / "more" / f"img{n}.png").read_bytes())
    capsys.readouterr()
    assert main(["add", str(folder), "--quiet"]) == 0
    assert "2 new images registered, 6 in the pool" in capsys.readouterr().out
    after = table(folder, "samples")
    assert after[: len(before)] == before  # earlier rows untouched
    assert sorted((row[0], row[1]) for row in after[len(before) :]) == [
        ("img4.png", 4),
        ("img5.png", 5),
    ]
    assert main(["add", str(folder), "--quiet"]) == 0
    assert "0 new images registered, 6 in the pool" in capsys.readouterr().out


def test_label_kinds_name_their_task_and_its_metric():
    from ll4al.tasks import LABEL_KINDS

    for name, kind in LABEL_KINDS.items():
        labels = kind(["a", "b"])
        assert labels.task_name == name and labels.metric_name == labels.task().metric_name


def test_status_and_the_labeling_page_name_the_projects_metric(tmp_path):
    """A project's ``metric`` is the one its label kind names (status and the page know it
    without importing the task), its task reports, and check_settings checks."""
    from dataclasses import replace

    from ll4al.config import ConfigError
    from ll4al.project.commands import check_settings
    from ll4al.project.status import format_status, status
    from ll4al.project.web import create_app
    from ll4al.tasks import LABEL_KINDS

    from .web_helpers import digits_project

    folder, _ = digits_project(tmp_path)
    project = Project.open(folder)
    project.settings.metric = "balanced_accuracy"
    project.settings.save(folder)
    project.close()
    project = Project.open(folder)
    metrics = {"accuracy": 0.5, "balanced_accuracy": 0.25}
    project.store.save_round(0, 2, "digest", "round-000.pt", metrics, 1.0)
    assert project.labels.metric_name == project.task.metric_name == "balanced_accuracy"
    shown = format_status(project, status(project))
    assert "balanced_accuracy 0.2500 on the evaluation set" in shown
    with pytest.raises(ConfigError, match="metric 'recall_0' is not one of"):
        check_settings(replace(project.settings, metric="recall_0"))
    project.close()
    assert LABEL_KINDS["classification"](["a", "b"]).metric_name == "accuracy"  # kind untouched
    assert create_app(folder, "ana").extensions["ll4al"].metric == "balanced_accuracy"


def test_accept_labels_checks_every_label_before_writing_any(tmp_path):
    """Every label writer stores through accept_labels, whose check no writer can skip."""
    from ll4al.project.accept import LabelRefused, accept_labels
    from ll4al.project.store import NewLabel, Sample, Store
    from ll4al.tasks import ClassLabels

    store = Store(tmp_path, create=True)
    samples = [Sample(f"{n}.png", n, "x", 8, 8) for n in range(2)]
    kind = ClassLabels(["cat", "dog"])
    offered = [
        (s, NewLabel(s.id, v, "ana", 1.0, "test", None))
        for s, v in zip(samples, ["cat", "cow"], strict=True)
    ]
    with store.transaction() as db:
        store.add_samples(db, samples)
    with (
        pytest.raises(LabelRefused, match="unknown class 'cow'") as refused,
        store.transaction() as db,
    ):
        accept_labels(store, db, kind, offered)
    assert refused.value.position == 1 and store.labels() == []
    with store.transaction() as db:
        assert accept_labels(store, db, kind, offered[:1] * 2) == [1, None]


def test_query_strategy_is_checked_like_init_strategy(digits, tmp_path, capsys):
    """query --strategy goes through the same fitness check as a config or init's strategy."""
    project = tmp_path / "p"
    init(project, digits)
    capsys.readouterr()
    assert main(["query", str(project), "--k", "5", "--strategy", "nope", "--quiet"]) == 2
    assert "unknown strategies ['nope']" in capsys.readouterr().err


# --- Label Studio: what an export may not do silently ---------------------------------------


def batch_tasks(project: Path, number: int = 1) -> list[dict]:
    return json.loads((project / "batches" / f"batch-{number:03d}-labelstudio.json").read_text())


def choice(name: str) -> list[dict]:
    return [
        {"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [name]}}
    ]


def truth(task: dict) -> list[dict]:
    return choice(task["data"]["ll4al_path"].split("/")[0])


def test_tasks_carry_the_project_and_checksum_and_import_refuses_another_projects(
    project, digits, tmp_path, capsys
):
    tasks = batch_tasks(project)
    ids = {t["data"]["ll4al_project"] for t in tasks}
    assert len(ids) == 1 and len(ids.pop()) == 32
    checksums = {row[0]: row[2] for row in table(project, "samples")}  # id, pool_index, checksum
    assert all(t["data"]["ll4al_checksum"] == checksums[t["data"]["ll4al_id"]] for t in tasks)

    other = tmp_path / "other"  # the same images, another project: file names all match
    init(other, digits)
    assert main(["query", str(other), "--k", "30", "--quiet"]) == 0
    theirs = tmp_path / "theirs.json"
    theirs.write_text(json.dumps(play_label_studio(batch_tasks(other), truth)))
    assert "a task of another ll4al project" in refused(project, theirs, capsys, "--outside-batch")

    changed = play_label_studio(tasks, truth)
    changed[3]["data"]["ll4al_checksum"] = "0" * 64
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(changed))
    assert "task 4 annotation 104: image" in refused(project, path, capsys)
    assert "changed since its task was written" in refused(project, path, capsys)


def test_a_skip_closes_the_image_for_the_batch_shows_in_status_and_lets_query_go_on(
    project, tmp_path, capsys
):
    tasks = batch_tasks(project)
    export = play_label_studio(tasks, truth)
    export[0]["annotations"][0].update(was_cancelled=True, result=[])
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    assert main(["import", str(project), str(path)]) == 0
    skipped = tasks[0]["data"]["ll4al_id"]
    assert [row[:3] for row in table(project, "skips")] == [(1, skipped, "expert@clinic.org")]
    capsys.readouterr()
    assert main(["status", str(project)]) == 0
    out = capsys.readouterr().out
    assert "29/30 labeled, 1 skipped as cannot be labeled, done" in out
    assert main(["query", str(project), "--k", "5", "--quiet"]) == 0  # the skip does not block
    assert [b[4] for b in table(project, "batches")] == ["done", "open"]


def test_a_query_blocked_by_an_open_batch_counts_its_skips(project, tmp_path, capsys):
    export = play_label_studio(batch_tasks(project)[:2], truth)
    export[0]["annotations"][0].update(was_cancelled=True, result=[])
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    assert main(["import", str(project), str(path)]) == 0
    capsys.readouterr()
    assert main(["query", str(project), "--k", "5", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "still has 28 of 30 images without a label or a skip (1 skipped" in err


def test_an_edited_annotation_counts_its_time_once_and_annotators_get_names(
    project, tmp_path, capsys
):
    task = batch_tasks(project)[0]
    wrong = "9" if truth(task)[0]["value"]["choices"] != ["9"] else "8"
    first = play_label_studio([task], lambda _: choice(wrong))
    first[0]["annotations"][0].update(completed_by=7, lead_time=4.5)
    edited = play_label_studio([task], truth)  # the same annotation (id 101), corrected
    edited[0]["annotations"][0].update(completed_by=7, lead_time=147.0)
    for number, export in enumerate((first, edited)):
        path = tmp_path / f"export-{number}.json"
        path.write_text(json.dumps(export))
        assert main(["import", str(project), str(path), "--annotators", "7=ann@lab.org"]) == 0
    rows = table(project, "labels")
    assert [(r[3], r[4]) for r in rows] == [("ann@lab.org", 4.5), ("ann@lab.org", 142.5)]
    capsys.readouterr()
    assert main(["status", str(project), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hours_measured"] * 3600 == pytest.approx(147.0)
    assert main(["import", str(project), str(path), "--annotators", "7"]) == 2
    assert "--annotators: '7' is not ID=NAME" in capsys.readouterr().err


def test_an_uploaded_image_label_studio_renamed_gets_a_hint(project, tmp_path, capsys):
    export = play_label_studio(batch_tasks(project)[:1], truth)
    name = export[0]["data"]["ll4al_path"].split("/")[-1]
    export[0]["data"] = {"image": f"/data/upload/3/1a2b3c4d-{name}"}
    path = tmp_path / "uploaded.json"
    path.write_text(json.dumps(export))
    err = refused(project, path, capsys)
    assert f"unknown image '1a2b3c4d-{name}'" in err and "Label Studio renamed an uploaded" in err


def test_init_help_and_readme_state_the_default_strategies_the_project_uses(capsys):
    from ll4al.project.commands import TASK_DEFAULTS
    from ll4al.project.settings import ProjectSettings, resolve_strategy

    with pytest.raises(SystemExit):
        main(["init", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    default, detection = ProjectSettings().strategy, TASK_DEFAULTS["detection"]["strategy"]
    whole, frozen = (resolve_strategy(default, "classification", f) for f in (False, True))
    assert f"(default: {default}: {whole}, or {frozen} on a frozen encoder's" in shown
    assert f"detection: {detection})" in shown
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    assert f"`--strategy` (default `{default}`: `{whole}`, or `{frozen}` on a frozen" in readme
    assert f"`{detection}` for detection" in readme
