"""The detection task: VOC reading, SSD's per-image losses, flip, mAP, its strategies, the CLI."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models.detection.transform import resize_boxes
from torchvision.ops import box_iou

from ll4al import STRATEGIES, Learner, LearningLoss, get_strategy
from ll4al.config import ConfigError, config_from_dict
from ll4al.data.voc import BCCD_CLASSES, AnnotationWarning, load_voc, parse_annotation
from ll4al.experiments.validation import validate_config
from ll4al.models.losses import joint_loss
from ll4al.models.networks import MODELS, build_model
from ll4al.tasks import DetectionTask
from ll4al.tasks.detection import SSDOutput

from ..helpers import TensorImages, ll4al, set_args

CPU = torch.device("cpu")


def write_xml(path, width, height, objects):
    boxes = "".join(
        f"<object><name>{name}</name><difficult>{int(hard)}</difficult><bndbox><xmin>{x1}</xmin>"
        f"<ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        for name, (x1, y1, x2, y2), hard in objects
    )
    path.write_text(
        f"<annotation><size><width>{width}</width><height>{height}</height>"
        f"<depth>3</depth></size>{boxes}</annotation>"
    )


def test_bccd_annotation_is_read_in_continuous_pixel_coordinates(shared_data):
    annotations = shared_data / "bccd" / "BCCD" / "Annotations"
    first = parse_annotation(annotations / "BloodImage_00000.xml", BCCD_CLASSES)
    assert first["size"] == (480, 640)
    assert first["boxes"][0] == [259, 176, 491, 376]  # WBC xmin 260 ... ymax 376, 1-based
    assert first["labels"][0] == 2 and set(first["labels"]) <= {1, 2, 3}
    assert len(first["boxes"]) == len(first["labels"]) == len(first["difficult"])


@pytest.mark.parametrize("image_id", ["BloodImage_00338", "BloodImage_00343"])
def test_the_two_degenerate_bccd_boxes_are_dropped_with_a_warning(shared_data, image_id):
    path = shared_data / "bccd" / "BCCD" / "Annotations" / f"{image_id}.xml"
    raw = path.read_text().count("<object>")
    with pytest.warns(AnnotationWarning, match=f"{image_id}.xml: dropped degenerate RBC box"):
        kept = parse_annotation(path, BCCD_CLASSES)
    assert len(kept["boxes"]) == raw - 1
    assert all(x2 > x1 and y2 > y1 for x1, y1, x2, y2 in kept["boxes"])


def test_out_of_range_boxes_are_clipped_and_bad_files_refused(tmp_path):
    path = tmp_path / "a.xml"
    write_xml(path, 100, 50, [("WBC", (-5, 10, 120, 40), False), ("RBC", (1, 1, 10, 10), True)])
    with pytest.warns(AnnotationWarning, match="clipped WBC box"):
        parsed = parse_annotation(path, BCCD_CLASSES)
    assert parsed["boxes"] == [[0, 9, 100, 40], [0, 0, 10, 10]]
    assert parsed["labels"] == [2, 1] and parsed["difficult"] == [False, True]
    write_xml(path, 100, 50, [("cat", (1, 1, 10, 10), False)])
    with pytest.raises(ValueError, match="unknown class 'cat'"):
        parse_annotation(path, BCCD_CLASSES)
    path.write_text("<annotation><size><width>10</wid")
    with pytest.raises(ValueError, match="a.xml: not a valid VOC annotation"):
        parse_annotation(path, BCCD_CLASSES)


def make_voc(root, sizes):
    """A VOC folder of plain images, one box each; image i's box covers its left half."""
    for folder in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / folder).mkdir(parents=True)
    for i, (width, height) in enumerate(sizes):
        Image.new("RGB", (width, height), (i * 40, 0, 0)).save(root / "JPEGImages" / f"{i}.jpg")
        write_xml(root / "Annotations" / f"{i}.xml", width, height, [
            ("RBC", (1, 1, width // 2, height), False)
        ])  # fmt: skip
    (root / "ImageSets/Main/trainval.txt").write_text("0\n1\n")
    (root / "ImageSets/Main/test.txt").write_text("2\n")


def test_voc_folder_loads_at_one_size_with_boxes_scaled(tmp_path):
    make_voc(tmp_path, [(200, 100), (64, 64), (320, 320)])
    data = load_voc(tmp_path, BCCD_CLASSES, image_size=(32, 48))
    assert data.train.images.shape == (2, 3, 32, 48) and data.test.images.shape == (1, 3, 32, 48)
    assert data.num_outputs == 3
    assert data.train.targets[0]["boxes"] == [[0, 0, 24, 32]]  # the left half, at 48x32
    assert data.train.targets[1]["labels"] == [1]
    assert float(data.train.inputs([0]).max()) <= 1.0  # [0, 1]: SSD normalises itself
    with pytest.raises(FileNotFoundError, match="val.txt not found"):
        load_voc(tmp_path, BCCD_CLASSES, test_split="val")
    with pytest.raises(FileNotFoundError, match="not a VOC directory"):
        load_voc(tmp_path / "JPEGImages", BCCD_CLASSES)


def synthetic_batch(n=3, size=96, seed=0):
    """Random images with a few random boxes each (the last image has none)."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, size, size, generator=gen)
    targets = []
    for i in range(n):
        count = 0 if i == n - 1 else 2 + i
        corner = torch.rand(count, 2, generator=gen) * size * 0.6
        extent = torch.rand(count, 2, generator=gen) * size * 0.3 + 8
        boxes = torch.cat([corner, corner + extent], dim=1).tolist()
        labels = torch.randint(1, 4, (count,), generator=gen).tolist()
        targets.append({"boxes": boxes, "labels": labels})
    return images, targets


def positive_anchors(output: SSDOutput, targets) -> torch.Tensor:
    detector = output.detector
    counts = []
    for anchors, target in zip(output.anchors, targets, strict=True):
        if not len(target["boxes"]):
            counts.append(0)
            continue
        boxes = resize_boxes(target["boxes"], (96, 96), output.image_sizes[0])
        quality = box_iou(boxes, anchors)
        counts.append(int((detector.proposal_matcher(quality) >= 0).sum()))
    return torch.tensor(counts, dtype=torch.float32)


@pytest.mark.parametrize(("name", "width"), [("ssdlite320", 0.25), ("ssd300-vgg16", 1.0)])
def test_per_image_losses_weighted_by_positives_reproduce_torchvisions_batch_loss(name, width):
    torch.manual_seed(0)
    model = build_model(name, 3, 3, width)
    images, labels = synthetic_batch()
    task = DetectionTask(BCCD_CLASSES)
    targets = task.collate_targets(labels, CPU)
    model.train()
    reference = model.detector(list(images), [dict(t) for t in targets])
    expected = float((reference["bbox_regression"] + reference["classification"]).detach())
    assert expected > 0
    output = model(images)  # the same train-mode forward: batch-norm statistics included
    losses = task.per_sample_loss(output, targets)
    positives = positive_anchors(output, targets)
    assert (
        losses.shape == (3,) and float(losses[2].detach()) == 0.0
    )  # no boxes: no positives, no loss
    assert positives[0] > 0 and positives[1] > 0
    weighted = float((losses.detach() * positives).sum() / positives.sum())
    assert weighted == pytest.approx(expected, rel=1e-5)
    model.eval()  # running batch-norm statistics: an image's loss is its own, batch or not
    with torch.no_grad():
        batch = task.per_sample_loss(model(images), targets)
        alone = task.per_sample_loss(model(images[1:2]), targets[1:2])
    assert float(alone[0]) == pytest.approx(float(batch[1]), rel=1e-4)


@pytest.mark.parametrize(("name", "width"), [("ssdlite320", 0.25), ("ssd300-vgg16", 1.0)])
def test_lpm_attaches_to_both_ssd_backbones_and_trains_them(name, width):
    torch.manual_seed(0)
    spec = MODELS[name]
    model = build_model(name, 3, 3, width)
    images, labels = synthetic_batch(n=2)
    net = LearningLoss(model, spec.lpm_layers, hidden=16, example_input=images)
    output, predicted = net(images)
    assert isinstance(output, SSDOutput) and predicted.shape == (2,)
    task = DetectionTask(BCCD_CLASSES)
    losses = task.per_sample_loss(output, task.collate_targets(labels, CPU))
    joint_loss(losses, predicted).backward()
    assert all(head[0].weight.grad.abs().sum() > 0 for head in net.heads)  # every level read
    first_conv = next(p for p in model.detector.backbone.parameters() if p.dim() == 4)
    assert first_conv.grad.abs().sum() > 0


def test_flip_mirrors_images_and_boxes_together():
    task = DetectionTask(BCCD_CLASSES)
    images = torch.zeros(8, 3, 20, 40)
    images[:, :, 5:10, 2:12] = 1  # each image's box, x 2..12, y 5..10
    labels = [{"boxes": [[2, 5, 12, 10]], "labels": [1]}] * 8
    flipped, targets = task.augment(
        images, task.collate_targets(labels, CPU), torch.Generator().manual_seed(0)
    )
    mirrored = [bool(t["boxes"][0, 0] != 2) for t in targets]
    assert 0 < sum(mirrored) < 8
    for image, target, mirror in zip(flipped, targets, mirrored, strict=True):
        x1, y1, x2, y2 = (int(v) for v in target["boxes"][0])
        assert (x1, y1, x2, y2) == ((28, 5, 38, 10) if mirror else (2, 5, 12, 10))
        assert image[:, y1:y2, x1:x2].min() == 1 and image.sum() == 3 * 5 * 10


def test_map50_is_one_for_perfect_detections_and_ignores_difficult_objects():
    task = DetectionTask(BCCD_CLASSES)
    truth = task.collate_targets(
        [
            {"boxes": [[0, 0, 10, 10], [20, 20, 40, 40]], "labels": [1, 2]},
            {"boxes": [[5, 5, 25, 25], [50, 50, 60, 60]], "labels": [1, 3], "difficult": [0, 1]},
        ],
        CPU,
    )

    def detections(boxes_per_image, labels_per_image):
        return [
            {
                "boxes": torch.tensor(b, dtype=torch.float32).reshape(-1, 4),
                "labels": torch.tensor(lab),
                "scores": torch.linspace(0.9, 0.5, len(lab)),
            }
            for b, lab in zip(boxes_per_image, labels_per_image, strict=True)
        ]

    perfect = detections([[[0, 0, 10, 10], [20, 20, 40, 40]], [[5, 5, 25, 25]]], [[1, 2], [1]])
    task.detections = lambda output: perfect
    scores = task.metrics([None], [truth])
    assert scores["map50"] == pytest.approx(1.0)  # the difficult platelet is no miss
    assert scores["ap50_RBC"] == pytest.approx(1.0) and scores["ap50_WBC"] == pytest.approx(1.0)
    # The WBC box shifted to IoU 1/3 is a miss and a false positive: its class scores 0.
    shifted = detections([[[0, 0, 10, 10], [30, 20, 50, 40]], [[5, 5, 25, 25]]], [[1, 2], [1]])
    task.detections = lambda output: shifted
    scores = task.metrics([None], [truth])
    assert scores["ap50_WBC"] == 0.0 and scores["map50"] == pytest.approx(0.5)


def test_detections_come_back_in_stored_image_pixels():
    torch.manual_seed(0)
    model = build_model("ssd300-vgg16", 3, 3, 1.0).eval()
    images, _ = synthetic_batch(n=2, size=64)
    with torch.no_grad():
        found = DetectionTask.detections(model(images))
    assert len(found) == 2 and len(found[0]["boxes"]) > 0
    assert found[0]["boxes"].max() <= 64 and found[0]["boxes"].min() >= 0
    assert set(found[0]["labels"].tolist()) <= {1, 2, 3}


def pool_images(n: int) -> TensorImages:
    """``n`` random 32x32 images in [0, 1], the same for a given ``n``."""
    return TensorImages(torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(1)))


def detection_learner(with_lpm: bool) -> Learner:
    """An untrained SSDlite whose batch norm has seen the test images once: at its initial
    running statistics, the from-scratch backbone's activations vanish and every image looks
    the same."""
    torch.manual_seed(0)
    model = build_model("ssdlite320", 3, 3, 0.25)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # a cumulative average: one pass sets the statistics
    with torch.no_grad():
        model(pool_images(20).x)
    spec = MODELS["ssdlite320"]
    if with_lpm:
        model = LearningLoss(model, spec.lpm_layers, 8, example_input=torch.rand(2, 3, 32, 32))
    task = DetectionTask(BCCD_CLASSES)
    return Learner(model, task, CPU, embedding_layer=spec.embedding_layer, batch_size=8)


def test_uncertainty_is_an_entropy_per_image():
    learner = detection_learner(False)
    scores = learner.infer(pool_images(5), np.arange(5), ["uncertainty"])["uncertainty"]
    assert scores.shape == (5,) and (scores > 0).all() and (scores <= np.log(4) + 1e-6).all()
    assert len(set(scores.tolist())) == 5


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategies_run_on_detection_unless_they_need_class_probabilities(name):
    strategy = get_strategy(name)
    learner = detection_learner(strategy.needs_loss_prediction)
    args = (learner, pool_images(20), np.arange(4), np.arange(4, 20), 5, np.random.default_rng(0))
    if strategy.unmet_needs(learner.task):
        assert strategy.needs_probabilities
        with pytest.raises(NotImplementedError, match="no class probabilities"):
            strategy.query(*args)
    else:
        picked = strategy.query(*args)
        assert len(set(picked.tolist())) == 5 and all(4 <= i < 20 for i in picked)


def test_detection_configs_refuse_strategies_that_need_class_probabilities():
    bccd = {"data": {"name": "bccd"}, "model": {"name": "ssdlite320"}, "train": {"augment": "flip"}}
    with pytest.raises(ConfigError, match=r"\['margin', 'badge'\] need class probabilities"):
        validate_config(config_from_dict({**bccd, "strategies": ["entropy", "margin", "badge"]}))
    validate_config(config_from_dict({**bccd, "strategies": ["entropy", "learning-loss-diverse"]}))


def test_one_bccd_cycle_through_the_cli(tmp_path, shared_data):
    out = tmp_path / "bccd"
    settings = [
        f"data.root={shared_data.resolve() / 'bccd'}",
        "seeds=[0]",
        "strategies=[random,learning-loss,entropy]",
        "active.initial=6",
        "active.query_size=3",
        "active.subset=9",
        "active.cycles=2",
        "train.epochs=1",
        "train.batch_size=3",
        "model.width=0.25",
        "data.validation=6",  # evaluate on 6 held-out pool images, not the 72 test ones
    ]
    args = set_args(settings)
    result = ll4al("run", "bccd-cpu", "--out", str(out), *args, "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "dropped degenerate RBC box" in result.stderr
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted((r["strategy"], r["labeled"]) for r in records) == [
        ("entropy", 6),
        ("entropy", 9),
        ("learning-loss", 6),
        ("learning-loss", 9),
        ("random", 6),
        ("random", 9),
    ]
    for r in records:
        assert r["primary_metric"] == "map50" and 0 <= r["map50"] <= 1
        assert np.isfinite(r["test_loss"]) and r["test_loss"] > 0
        assert ("ranking_accuracy" in r) == (r["strategy"] == "learning-loss")
    assert (out / "report.md").is_file()


def test_a_corrupt_annotation_is_a_one_line_cli_error(tmp_path):
    make_voc(tmp_path / "voc", [(64, 64), (64, 64), (64, 64)])
    (tmp_path / "voc" / "Annotations" / "1.xml").write_text("<annotation><size>")
    settings = ["data.name=bccd", f"data.root={tmp_path / 'voc'}", "active.initial=2"]
    args = set_args(settings)
    result = ll4al("run", "bccd-cpu", "--out", str(tmp_path / "out"), *args, cwd=tmp_path)
    assert result.returncode == 2
    assert "1.xml: not a valid VOC annotation" in result.stderr
    assert "Traceback" not in result.stderr
