"""A pretrained start: ``ll4al pretrain`` (SimCLR on the pool) and ``model.weights``."""

import json
import math

import pytest
import torch

from ll4al.al.session import LearnerRecipe, Session
from ll4al.config import ConfigError, load_config
from ll4al.data.builtin import load_digits
from ll4al.experiments.pretrain import (
    PretrainSettings,
    nt_xent,
    pretrain,
    resume_path,
    simclr_view,
)
from ll4al.models.networks import build_model
from ll4al.models.weights import backbone_state, load_weights
from ll4al.strategies import get_strategy
from ll4al.tasks import ClassificationTask

from ..helpers import ll4al

FAST = ["--set", "active.cycles=2", "--set", "seeds=[0]", "--set", "train.epochs=2", "--quiet"]


def test_nt_xent_is_the_formula():
    gen = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(5, 8, generator=gen), torch.randn(5, 8, generator=gen)
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    s = z @ z.T / 0.5
    n = len(z1)
    terms = []
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        others = sum(math.exp(s[i, k]) for k in range(2 * n) if k != i)
        terms.append(-math.log(math.exp(s[i, partner]) / others))
    assert nt_xent(z1, z2, 0.5).item() == pytest.approx(sum(terms) / len(terms), rel=1e-5)

    # identical views of orthonormal embeddings: the partner at cos 1, every other view at 0
    views = torch.eye(6, 16)
    expected = -math.log(math.exp(2) / (math.exp(2) + 2 * (6 - 1)))
    assert nt_xent(views, views, 0.5).item() == pytest.approx(expected, rel=1e-6)
    assert nt_xent(views, views, 0.5) < nt_xent(views, views.roll(1, 0), 0.5)


@pytest.mark.parametrize("channels", [3, 1])
def test_views_keep_the_shape_and_differ(channels):
    images = torch.randn(16, channels, 12, 12)
    low, high = images.amin(dim=(0, 2, 3), keepdim=True), images.amax(dim=(0, 2, 3), keepdim=True)
    gen = torch.Generator().manual_seed(0)
    first, second = simclr_view(images, gen, low, high), simclr_view(images, gen, low, high)
    assert first.shape == second.shape == images.shape
    assert torch.isfinite(first).all()
    assert (first >= low - 1e-5).all() and (first <= high + 1e-5).all()  # black to white
    differ = (first - second).flatten(1).abs().amax(1) > 1e-3
    assert differ.all()  # every image's two views differ
    again = simclr_view(images, torch.Generator().manual_seed(0), low, high)
    assert torch.equal(again, first)  # seeded


def test_pretrain_is_seeded_and_ignores_the_configs_weights(tmp_path):
    config = load_config("demo", ["model.weights=nowhere.pt"])  # not read: no error
    settings = PretrainSettings(epochs=1, batch_size=32, limit=96)
    runs = []
    for name in ("a.pt", "b.pt"):
        result = pretrain(config, tmp_path / name, settings, progress=False, log=lambda _: None)
        assert result.images == 96 and math.isfinite(result.loss)
        runs.append(torch.load(tmp_path / name, weights_only=True))
    assert runs[0].keys() == runs[1].keys()
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not any(k.startswith("fc.") for k in runs[0])  # no head, no projection head
    assert all(v.device.type == "cpu" for v in runs[0].values())  # loads without a GPU too
    with pytest.raises(ConfigError, match="classification"):
        pretrain(load_config("face-keypoints-cpu"), tmp_path / "k.pt", settings, progress=False)


def _first_learner(weights):
    config = load_config("demo", [] if weights is None else [f"model.weights={weights}"])
    data = load_digits()
    recipe = LearnerRecipe(
        config.model,
        ClassificationTask(),
        data.num_outputs,
        data.in_channels,
        example_input=data.train.inputs(torch.arange(2)),
        device=torch.device("cpu"),
    )
    session = Session(recipe, data.train, get_strategy("learning-loss"), 0, config.train)
    return session.new_learner(0).target


def test_pretrain_the_demo_then_run_it_from_those_weights(tmp_path):
    out = tmp_path / "pretrain" / "demo.pt"
    made = ll4al(
        "pretrain",
        "demo",
        "--out",
        str(out),
        "--epochs",
        "1",
        "--limit",
        "256",
        "--quiet",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    assert "final NT-Xent loss" in made.stdout and "images/s" in made.stdout
    saved = torch.load(out, weights_only=True)
    plain = _first_learner(None)
    assert set(saved) == {k for k in plain.state_dict() if not k.startswith("fc.")}

    run = ll4al(
        "run",
        "demo",
        "--out",
        "r",
        "--set",
        f"model.weights={out}",
        "--set",
        "train.epochs=1",
        *FAST,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    records = [
        json.loads(line) for line in (tmp_path / "r" / "results.jsonl").read_text().splitlines()
    ]
    assert sorted(r["cycle"] for r in records) == [1, 1, 2, 2]

    started = _first_learner(out)  # round 0's network, as the run built it
    assert torch.equal(started.block1[0].weight, saved["block1.0.weight"])
    assert torch.equal(started.block3[1].running_var, saved["block3.1.running_var"])
    assert not torch.equal(plain.block1[0].weight, saved["block1.0.weight"])
    assert torch.equal(started.fc.weight, plain.fc.weight)  # its own head, the same random one


def test_a_checkpoint_that_does_not_fit_is_a_one_line_error(tmp_path):
    narrow = build_model("small-cnn", 10, 1, 0.25)  # demo's is width 0.5
    torch.save(backbone_state(narrow), tmp_path / "narrow.pt")
    for weights, message in [
        ("narrow.pt", "'block1.0.weight' has shape (8, 1, 3, 3) in the checkpoint but (16, 1"),
        ("missing.pt", "model.weights: no file 'missing.pt'"),
    ]:
        result = ll4al("run", "demo", "--set", f"model.weights={weights}", *FAST, cwd=tmp_path)
        assert result.returncode == 2
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_strict_keys_but_any_head(tmp_path):
    network = build_model("small-cnn", 10, 1, 0.5)
    state = network.state_dict()
    other_head = {**state, "fc.weight": torch.zeros(3, 64), "fc.bias": torch.zeros(3)}
    torch.save(other_head, tmp_path / "head.pt")
    fresh = build_model("small-cnn", 10, 1, 0.5)
    head = fresh.fc.weight.clone()
    load_weights(fresh, tmp_path / "head.pt")  # a head for 3 classes: skipped
    assert torch.equal(fresh.fc.weight, head)
    assert torch.equal(fresh.block2[0].weight, network.block2[0].weight)

    cases = [
        (
            {k: v for k, v in state.items() if k != "block2.1.bias"},
            "lacks 1 parameter.*block2.1.bias",
        ),
        ({**state, "lpm.heads.0.weight": torch.zeros(2)}, "holds 1 parameter.*lpm.heads.0.weight"),
        ([1, 2], "not a state_dict"),
    ]
    for value, message in cases:
        torch.save(value, tmp_path / "bad.pt")
        with pytest.raises(ConfigError, match=message):
            load_weights(build_model("small-cnn", 10, 1, 0.5), tmp_path / "bad.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ConfigError, match="not a PyTorch checkpoint"):
        load_weights(fresh, tmp_path / "text.pt")


def test_the_fingerprint_has_no_weights_unless_set():
    plain = load_config("demo").fingerprint()["model"]
    assert set(plain) == {"name", "width", "lpm_hidden", "lpm_layers", "embedding_layer"}
    assert load_config("demo", ["model.weights=w.pt"]).fingerprint()["model"]["weights"] == "w.pt"


def test_pretrain_refuses_a_bad_out_or_settings_before_training(tmp_path):
    for args, message in [
        (["--out", str(tmp_path)], "cannot write a checkpoint file there"),
        (["--out", "w.pt", "--epochs", "0"], "epochs >= 1"),
    ]:
        result = ll4al("pretrain", "demo", *args, "--quiet", cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr
        assert "Traceback" not in result.stderr and "epoch 1/" not in result.stdout


def test_a_killed_pretraining_resumes_to_the_same_weights(tmp_path):
    """The state after each epoch is kept beside the checkpoint; a run stopped in its second
    epoch and started again ends with exactly the weights of an uninterrupted run."""
    config = load_config("demo")
    settings = PretrainSettings(epochs=3, batch_size=32, limit=96)
    pretrain(config, tmp_path / "whole.pt", settings, progress=False, log=lambda _: None)

    class Killed(Exception):
        pass

    def kill_in_epoch_two(line: str) -> None:
        if line.startswith("epoch 2/"):
            raise Killed

    out = tmp_path / "resumed.pt"
    with pytest.raises(Killed):
        pretrain(config, out, settings, progress=False, log=kill_in_epoch_two)
    assert not out.exists() and resume_path(out).exists()
    with pytest.raises(ConfigError, match="other settings.*epochs"):
        pretrain(config, out, PretrainSettings(epochs=4, batch_size=32, limit=96), False)
    lines: list[str] = []
    pretrain(config, out, settings, progress=False, log=lines.append)
    assert lines[0].startswith("resuming from") and "after epoch 1/3" in lines[0]
    whole, resumed = (torch.load(p, weights_only=True) for p in (tmp_path / "whole.pt", out))
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert not resume_path(out).exists()  # removed once the checkpoint is written
