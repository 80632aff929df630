import numpy as np
import pytest
import torch

from ll4al.al.training import evaluate, train
from ll4al.config import TrainSettings
from ll4al.tasks import ClassificationTask
from ll4al.tasks.classification import random_crop_flip

from ..conftest import make_images
from ..helpers import tiny_recipe


@pytest.mark.parametrize("with_lpm,precision", [(False, "fp32"), (True, "fp32"), (True, "bf16")])
def test_training_learns_the_tiny_task(with_lpm, precision):
    torch.manual_seed(0)
    pool, test = make_images(n=96, seed=0), make_images(n=48, seed=1)
    learner = tiny_recipe(pool, precision=precision).build(with_lpm)
    assert learner.channels_last == (precision == "bf16")
    before = evaluate(learner, test, np.arange(48), test.targets.tolist())
    settings = TrainSettings(
        epochs=15, batch_size=16, lr=0.05, milestones=[], augment="none", stop_gradient_epoch=10
    )
    result = train(
        learner,
        pool,
        np.arange(96),
        pool.targets.tolist(),
        settings,
        torch.Generator().manual_seed(0),
        progress=False,
    )
    after = evaluate(learner, test, np.arange(48), test.targets.tolist())
    assert np.isfinite(result["loss"])
    assert after["accuracy"] > max(0.6, before["accuracy"])
    assert after["test_loss"] < before["test_loss"]
    assert ("ranking_accuracy" in after) == with_lpm
    if with_lpm:
        assert learner.model.stop_gradient  # switched on from epoch 10 of 15


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="batch_size"):
        TrainSettings(batch_size=1)
    pool = make_images(n=8)
    with pytest.raises(ValueError, match="need at least 2"):
        train(
            tiny_recipe(pool).build(False),
            pool,
            np.arange(1),
            [0],
            TrainSettings(epochs=1),
            torch.Generator(),
            progress=False,
        )
    with pytest.raises(ValueError, match="augment must be 'crop-flip' or 'none'"):
        train(
            tiny_recipe(pool).build(False),
            pool,
            np.arange(8),
            pool.targets.tolist(),
            TrainSettings(epochs=1, augment="flip"),  # the keypoint task's, not this one's
            torch.Generator(),
            progress=False,
        )


def test_classification_augmentation_is_the_batched_crop_flip():
    """Training with ``augment: crop-flip`` sees exactly the batches it saw before the task
    adapter took augmentation over: the same function, the same draws from the generator."""
    batch, labels = torch.randn(16, 3, 8, 8), torch.arange(16)
    out, targets = ClassificationTask().augment(batch, labels, torch.Generator().manual_seed(3))
    assert torch.equal(out, random_crop_flip(batch, generator=torch.Generator().manual_seed(3)))
    assert targets is labels


@pytest.mark.parametrize(
    "ranker", [{"rank_pairs": "all"}, {"rank_loss": "listwise"}], ids=["all-pairs", "listwise"]
)
def test_a_training_step_with_each_ranker(ranker):
    """The ranker settings reach the loss: same start, same batches, another objective."""
    pool = make_images(n=32, seed=0)
    results = []
    for options in ({}, ranker):
        torch.manual_seed(0)
        learner = tiny_recipe(pool).build(True)
        settings = TrainSettings(
            epochs=1, batch_size=16, lr=0.05, milestones=[], augment="none", **options
        )
        out_before = learner.model.out.weight.detach().clone()
        result = train(
            learner,
            pool,
            np.arange(32),
            pool.targets.tolist(),
            settings,
            torch.Generator().manual_seed(0),
            progress=False,
        )
        assert np.isfinite(result["loss"])
        assert not torch.equal(learner.model.out.weight, out_before)  # the LPM trained
        results.append(result["loss"])
    assert results[0] != results[1]
