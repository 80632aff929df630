"""The keypoint task: face data, heatmap targets, flip, PCK, the hourglass and its LPM."""

import json

import numpy as np
import pytest
import torch

from ll4al import STRATEGIES, Learner, LearningLoss, get_strategy
from ll4al.config import ConfigError, config_from_dict
from ll4al.data.arrays import ArrayDataset, TaskData, hold_out, split_by_group
from ll4al.data.builtin import (
    FACE_FLIP_PAIRS,
    FACE_IMAGE_SIZE,
    FACE_KEYPOINTS,
    load_face_keypoints,
)
from ll4al.experiments.validation import validate_config
from ll4al.models.features import capture_pooled
from ll4al.models.losses import joint_loss
from ll4al.models.networks import MODELS, StackedHourglass, build_model
from ll4al.tasks import KeypointTask

from ..helpers import TensorImages, ll4al, set_args


def face_task(**kwargs) -> KeypointTask:
    return KeypointTask(FACE_FLIP_PAIRS, FACE_IMAGE_SIZE, FACE_KEYPOINTS, **kwargs)


def on_cell_centres(cells: torch.Tensor) -> torch.Tensor:
    """Image pixels of heatmap cells (u, v) at stride 2: exactly where the argmax maps back."""
    return cells.float() * 2 + 0.5


@pytest.fixture
def shared_faces(shared_data) -> TaskData:
    return load_face_keypoints(shared_data / "face-keypoints")


def test_face_split_is_by_image_id(shared_data):
    faces = load_face_keypoints(shared_data / "face-keypoints")
    train_ids, test_ids = faces.train.groups, faces.test.groups
    assert (len(faces.train), len(faces.test)) == (3200, 800)
    assert not set(train_ids.tolist()) & set(test_ids.tolist())
    assert len(set(test_ids.tolist())) == 400  # 20% of the 2,000 poses, both rows of each
    assert np.bincount(test_ids)[np.unique(test_ids)].tolist() == [2] * 400
    assert faces.train.targets.shape[1:] == (14, 2)
    assert faces.train.inputs(np.arange(2)).shape == (2, 3, 64, 64)
    with np.load(shared_data / "face-keypoints" / "face64.npz") as npz:
        ids = npz["image_id"]
    _, held = split_by_group(ids, 800, seed=0)
    assert np.array_equal(ids[held], test_ids)  # a fixed, seeded split
    assert not np.array_equal(ids[split_by_group(ids, 800, seed=1)[1]], test_ids)


def test_hold_out_keeps_the_two_backgrounds_of_a_face_together():
    images = torch.zeros(40, 1, 4, 4, dtype=torch.uint8)
    groups = np.repeat(np.arange(20), 2)
    pool = ArrayDataset(images, np.zeros((40, 14, 2)), (0.0,), (1.0,), groups=groups)
    held = hold_out(TaskData(pool, pool, 14, 1), 7, seed=0)
    assert len(held.test) == 8  # 7 rounded up to whole faces
    assert not set(held.train.groups.tolist()) & set(held.test.groups.tolist())


def test_flip_pairs_map_the_mean_face_onto_itself(shared_faces):
    mean = torch.as_tensor(shared_faces.train.targets.mean(axis=0))  # [14, 2]
    task = face_task()
    mirrored = mean[task.flip_order].clone()
    mirrored[:, 0] = 63 - mirrored[:, 0]
    distances = torch.cdist(mirrored, mean)  # mirrored partner of i against every point
    assert distances.argmin(dim=1).tolist() == list(range(14))
    assert float(distances.diagonal().max()) < 3.0  # the nose is off by 2.7 px, the rest < 2


def test_flip_mirrors_the_image_and_swaps_left_and_right():
    task = face_task()
    b = 64
    keypoints = torch.rand(b, 14, 2) * 40 + 10
    keypoints[:, 0] = torch.tensor([20.0, 30.0])  # a left eyebrow end on a marked pixel
    images = torch.zeros(b, 3, 64, 64)
    images[:, :, 30, 20] = 1.0
    out, moved = task.augment(images, keypoints, torch.Generator().manual_seed(0))
    flipped = out[:, 0, 30, 43] == 1.0  # 63 - 20
    assert 16 < int(flipped.sum()) < 48
    assert torch.equal(out[~flipped], images[~flipped])
    assert torch.equal(moved[~flipped], keypoints[~flipped])
    assert torch.equal(out[flipped], images[flipped].flip(-1))
    # the marked point is now the partner keypoint 3 (right eyebrow end), mirrored
    assert torch.equal(
        moved[flipped][:, 3], torch.tensor([43.0, 30.0]).expand(int(flipped.sum()), 2)
    )
    for left, right in FACE_FLIP_PAIRS:
        assert torch.allclose(moved[flipped][:, left, 0], 63 - keypoints[flipped][:, right, 0])
        assert torch.equal(moved[flipped][:, left, 1], keypoints[flipped][:, right, 1])
    nose = 10
    assert torch.allclose(moved[flipped][:, nose, 0], 63 - keypoints[flipped][:, nose, 0])


def test_heatmap_targets_peak_at_the_keypoints():
    task = face_task(sigma=1.0)
    keypoints = torch.rand(8, 14, 2) * 60 + 2
    maps = task.heatmaps(keypoints, (32, 32))
    assert maps.shape == (8, 14, 32, 32) and float(maps.max()) <= 1.0
    found = task.predict(maps[:, None])  # one stack
    assert float((found - keypoints).abs().max()) <= 1.0  # within half a heatmap cell
    cells = torch.tensor([[[5, 7], [20, 3]]])
    exact = task.heatmaps(on_cell_centres(cells).expand(1, 2, 2).repeat(1, 7, 1), (32, 32))
    assert float(exact[0, 0, 7, 5]) == 1.0 and float(exact[0, 1, 3, 20]) == 1.0
    assert float(exact[0, 0, 7, 6]) == pytest.approx(np.exp(-0.5))  # sigma 1 cell


def faces_with_spans(spans: list[float]) -> torch.Tensor:
    """One face per span: 14 keypoints on heatmap-cell centres whose span is exactly ``span``."""
    faces = []
    for span in spans:
        cells = torch.stack([torch.arange(14) % 4 + 2, torch.arange(14) // 4 + 6], dim=1)
        points = on_cell_centres(cells)
        points[13] = points[0] + torch.tensor([span, 0.0])  # x-range = span > y-range
        faces.append(points)
    return torch.stack(faces)


def test_pck_is_one_for_a_perfect_prediction_and_as_counted_for_a_shifted_one():
    task = face_task()
    truth = faces_with_spans([50.0, 30.0])  # PCK thresholds 5.0 and 3.0 px
    perfect = task.heatmaps(truth, (32, 32))[:, None].repeat(1, 2, 1, 1, 1)
    assert task.metrics([perfect], [truth]) == {"pck": 1.0, "mean_pixel_error": 0.0}
    shifted = truth + torch.tensor([4.0, 0.0])  # 2 heatmap cells to the right, in the image
    assert float(shifted[..., 0].max()) <= 63
    predicted = task.heatmaps(shifted, (32, 32))[:, None].repeat(1, 2, 1, 1, 1)
    # every point is 4 px off: within 5 px on the first face, beyond 3 px on the second
    assert task.metrics([predicted[:1], predicted[1:]], [truth[:1], truth[1:]]) == {
        "pck": 0.5,
        "mean_pixel_error": 4.0,
    }
    only_last_stack = torch.stack([perfect[:, 0], predicted[:, 1]], dim=1)
    assert task.metrics([only_last_stack], [truth])["pck"] == 0.5  # the last stack decides


def test_per_sample_loss_is_per_image_and_sums_the_stacks():
    task = face_task()
    truth = torch.rand(3, 14, 2) * 50 + 5
    target = task.heatmaps(truth, (32, 32))
    perfect = target[:, None].repeat(1, 2, 1, 1, 1)
    losses = task.per_sample_loss(perfect, truth)
    assert losses.shape == (3,) and torch.equal(losses, torch.zeros(3))
    half = perfect.clone()
    half[1, 1] = 0  # image 1's second stack predicts nothing
    losses = task.per_sample_loss(half, truth)
    assert losses[0] == 0 and losses[2] == 0
    assert float(losses[1]) == pytest.approx(float(target[1].pow(2).mean()))
    both = torch.zeros_like(perfect)
    assert torch.allclose(task.per_sample_loss(both, truth), 2 * target.pow(2).mean(dim=(1, 2, 3)))
    with pytest.raises(ValueError, match=r"heatmaps \[B, stacks, 14, H, W\]"):
        task.per_sample_loss(torch.zeros(3, 14), truth)


def test_lpm_attaches_to_the_hourglass_and_trains_it():
    spec = MODELS["stacked-hourglass"]
    model = build_model("stacked-hourglass", 14, 3, 0.125)
    x = torch.randn(4, 3, 64, 64)
    net = LearningLoss(model, spec.lpm_layers, hidden=16, example_input=x[:2])
    heatmaps, predicted = net(x)
    assert heatmaps.shape == (4, 2, 14, 32, 32) and predicted.shape == (4,)
    assert not heatmaps.any()  # the heatmap heads start at zero
    task = face_task()
    losses = task.per_sample_loss(heatmaps, torch.rand(4, 14, 2) * 60)
    joint_loss(losses, predicted).backward()
    assert model.stem[0].weight.grad.abs().sum() > 0
    assert all(head[0].weight.grad.abs().sum() > 0 for head in net.heads)  # every level read
    with capture_pooled(model, spec.embedding_layer) as pooled:
        model(x)
    assert pooled[0].shape == (4, 8)


def keypoint_learner(with_lpm: bool) -> Learner:
    torch.manual_seed(0)
    model = StackedHourglass(14, 3, width=0.125, depth=2)
    x = torch.randn(2, 3, 16, 16)
    if with_lpm:
        model = LearningLoss(model, MODELS["stacked-hourglass"].lpm_layers, 8, example_input=x)
    task = KeypointTask(FACE_FLIP_PAIRS, (16, 16), 14)
    return Learner(model, task, torch.device("cpu"), embedding_layer="stacks.1.features")


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategies_run_on_keypoints_unless_they_need_probabilities(name):
    strategy = get_strategy(name)
    learner = keypoint_learner(strategy.needs_loss_prediction)
    faces = TensorImages(torch.randn(30, 3, 16, 16, generator=torch.Generator().manual_seed(1)))
    args = (learner, faces, np.arange(5), np.arange(5, 30), 6, np.random.default_rng(0))
    if strategy.unmet_needs(learner.task):
        with pytest.raises(NotImplementedError, match="no class probabilities"):
            strategy.query(*args)
    else:
        picked = strategy.query(*args)
        assert len(set(picked.tolist())) == 6 and all(5 <= i < 30 for i in picked)


def test_configs_that_do_not_fit_the_task_are_refused_up_front():
    face = {"data": {"name": "face-keypoints"}, "model": {"name": "stacked-hourglass"}}
    with pytest.raises(ConfigError, match=r"\['entropy', 'badge'\] need an uncertainty"):
        validate_config(config_from_dict({**face, "strategies": ["random", "entropy", "badge"]}))
    with pytest.raises(ConfigError, match="train.augment must be 'flip' or 'none'"):
        validate_config(config_from_dict({**face, "train": {"augment": "crop-flip"}}))
    with pytest.raises(ConfigError, match="'crop-flip' or 'none'"):
        validate_config(config_from_dict({"train": {"augment": "flip"}}))  # digits: classification
    validate_config(
        config_from_dict({**face, "strategies": ["core-set"], "train": {"augment": "flip"}})
    )


def test_one_keypoint_cycle_through_the_cli(tmp_path, shared_data):
    out = tmp_path / "faces"
    settings = [
        f"data.root={shared_data.resolve() / 'face-keypoints'}",
        "seeds=[0]",
        "strategies=[random,learning-loss]",
        "active.initial=8",
        "active.query_size=4",
        "active.subset=12",
        "active.cycles=2",
        "train.epochs=1",
        "train.batch_size=4",
        "model.width=0.125",
        "data.validation=16",  # evaluate on 16 held-out pool faces, not the 800 test ones
    ]
    args = set_args(settings)
    result = ll4al("run", "face-keypoints-cpu", "--out", str(out), *args, "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted((r["strategy"], r["labeled"]) for r in records) == [
        ("learning-loss", 8),
        ("learning-loss", 12),
        ("random", 8),
        ("random", 12),
    ]
    for r in records:
        assert r["primary_metric"] == "pck" and 0 <= r["pck"] <= 1
        assert r["mean_pixel_error"] >= 0 and np.isfinite(r["test_loss"])
        assert ("ranking_accuracy" in r) == (r["strategy"] == "learning-loss")
    assert "pck" in result.stdout
