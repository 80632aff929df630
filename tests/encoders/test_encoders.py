"""The pool put to work: a project's own encoder, its cached embeddings, frozen rounds and a
typical first batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ll4al.al.first_batch import first_draw, typical_draw
from ll4al.al.pool import Pool
from ll4al.cli import main
from ll4al.config import ConfigError, load_config
from ll4al.data.builtin import load_digits
from ll4al.encoders.cache import cached_embeddings
from ll4al.encoders.frozen import EmbeddingData, is_frozen
from ll4al.experiments.experiment import read_results, run_experiment
from ll4al.experiments.pretrain import PretrainSettings, pretrain
from ll4al.experiments.validation import validate_config

from ..helpers import tiny_recipe
from ..project_helpers import TRAINING, answer_batch, export_digits, init_digits_project

pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture(scope="module")
def digits_encoder(tmp_path_factory) -> Path:
    """A one-epoch SimCLR encoder of the demo's small CNN on the digits pool."""
    out = tmp_path_factory.mktemp("encoder") / "digits.pt"
    settings = PretrainSettings(epochs=1, batch_size=64, limit=256)
    pretrain(load_config("demo"), out, settings, progress=False, log=lambda _: None)
    return out


def blobs(per_blob: int = 40, outliers: int = 10, seed: int = 0):
    """Five tight, well-apart clusters in 8 dimensions and a few far-off outliers."""
    rng = np.random.default_rng(seed)
    centres = np.eye(8)[:5] * 10
    points = [c + rng.normal(scale=0.3, size=(per_blob, 8)) for c in centres]
    far = rng.normal(scale=30, size=(outliers, 8))
    blob_of = np.concatenate([np.repeat(np.arange(5), per_blob), np.full(outliers, -1)])
    return np.concatenate([*points, far]).astype(np.float32), blob_of


def test_a_typical_first_batch_takes_one_central_sample_per_cluster():
    embeddings, blob_of = blobs()
    pool = Pool(len(embeddings))
    picked = typical_draw(embeddings, pool, 5, seed=0)
    assert sorted(blob_of[picked]) == [0, 1, 2, 3, 4]  # every cluster once, no outlier
    for index in picked:  # nearer its cluster's centre than the cluster's median member
        members = embeddings[blob_of == blob_of[index]]
        distances = np.linalg.norm(members - members.mean(0), axis=1)
        assert np.linalg.norm(embeddings[index] - members.mean(0)) < np.median(distances)
    assert np.array_equal(typical_draw(embeddings, pool, 5, seed=0), picked)  # seeded

    # with three clusters labeled, the next two picks cover the two others
    pool.add_labels(picked[:3], [0, 0, 0])
    more = first_draw("typical", pool, 2, 0, embeddings)
    assert sorted(blob_of[more]) == sorted(set(range(5)) - set(blob_of[picked[:3]]))
    assert not set(more) & set(picked[:3])
    with pytest.raises(ValueError, match="needs an encoder"):
        first_draw("typical", pool, 2, 0, None)


def test_embeddings_are_computed_once_and_never_reused_for_another_encoder(
    digits_encoder, tmp_path, monkeypatch
):
    data = load_digits(seed=0).train
    model = load_config("demo", [f"model.weights={digits_encoder}"]).model
    recipe = tiny_recipe(data)
    recipe = type(recipe)(
        model, recipe.task, 10, 1, data.inputs(np.arange(2)), recipe.device, "fp32", 256
    )
    calls = []
    original = type(recipe.build(False)).infer

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(recipe.build(False)), "infer", counted)
    key = data.content_digest()
    first = cached_embeddings(recipe, data, key, len(data), tmp_path, progress=False)
    assert first.shape[0] == len(data) and np.isfinite(first).all()
    made = len(calls)
    again = cached_embeddings(recipe, data, key, len(data), tmp_path, progress=False)
    assert len(calls) == made and isinstance(again, np.memmap)  # read, not recomputed
    assert np.array_equal(np.asarray(again), np.asarray(first))

    # the encoder changed in place: another key, computed anew, the old file untouched
    state = torch.load(digits_encoder, weights_only=True)
    changed = tmp_path / "changed.pt"
    torch.save({k: v + 0.01 if v.is_floating_point() else v for k, v in state.items()}, changed)
    other = type(recipe)(
        **{**recipe.__dict__, "model": load_config("demo", [f"model.weights={changed}"]).model}
    )
    fresh = cached_embeddings(other, data, key, len(data), tmp_path, progress=False)
    assert len(calls) > made and not np.allclose(np.asarray(fresh), np.asarray(first))
    # other images: another key too
    cached_embeddings(recipe, data, key + "x", len(data), tmp_path, progress=False)
    assert len(sorted(tmp_path.glob("embeddings-*.npy"))) == 3
    meta = json.loads(next(tmp_path.glob("embeddings-*.json")).read_text())
    assert {"images", "weights", "model", "layer", "precision"} <= set(meta)


def test_embedding_data_is_standardised_by_the_pool():
    embeddings = np.random.default_rng(0).normal(5, 3, size=(100, 4)).astype(np.float32)
    pool = EmbeddingData.of_pool(embeddings)
    x = pool.inputs(np.arange(100))
    assert torch.allclose(x.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(4), atol=1e-4)
    other = pool.with_embeddings(embeddings[:3] + 3)  # by the pool's statistics, not its own
    assert torch.allclose(
        other.inputs([0]), pool.inputs([0]) + 3 / torch.tensor(embeddings.std(0)), atol=1e-4
    )


def test_frozen_and_typical_need_an_encoder_in_a_config():
    for setting in ("model.mode=frozen", "active.first=typical"):
        with pytest.raises(ConfigError, match="need an encoder: set model.weights"):
            validate_config(load_config("demo", [setting]))
    with pytest.raises(ConfigError, match="model.mode must be one of"):
        validate_config(load_config("demo", ["model.mode=thawed"]))
    with pytest.raises(ConfigError, match="active.first must be one of"):
        validate_config(load_config("demo", ["active.first=median"]))
    config = load_config("face-keypoints-cpu", ["model.mode=frozen", "model.weights=x.pt"])
    with pytest.raises(ConfigError, match="frozen trains a classification head|no file"):
        validate_config(config)


def test_a_frozen_benchmark_trains_a_head_from_a_typical_start(digits_encoder, tmp_path):
    config = load_config(
        "demo",
        [
            f"model.weights={digits_encoder}",
            "model.mode=frozen",
            "active.first=typical",
            "active.cycles=2",
            "active.initial=20",
            "active.query_size=20",
            "seeds=[0]",
            "train.epochs=30",
        ],
    )
    run_experiment(config, tmp_path / "run", progress=False)
    records = read_results(tmp_path / "run" / "results.jsonl")
    assert {(r["strategy"], r["labeled"]) for r in records} == {
        (s, n) for s in config.strategies for n in (20, 40)
    }
    assert all(r["accuracy"] > 0.3 for r in records)  # a head on 20 labels beats chance (0.1)
    states = [
        json.loads((tmp_path / "run" / "runs" / f"{s}-seed0" / "state.json").read_text())
        for s in config.strategies
    ]
    firsts = [[i for i, _ in state["pool"]["labeled"][:20]] for state in states]
    assert firsts[0] == firsts[1]  # every strategy starts from the same typical batch
    files = sorted((tmp_path / "cache" / "embeddings").glob("embeddings-*.npy"))
    assert len(files) == 2  # the pool's and the test set's
    embeddings = max((np.load(f) for f in files), key=len)  # the pool's: 1,257 digits
    pool = Pool(len(embeddings))
    assert sorted(firsts[0]) == sorted(typical_draw(embeddings, pool, 20, 0).tolist())


def test_auto_mode_is_frozen_only_with_an_encoder():
    demo = load_config("demo").model
    assert not is_frozen(demo)
    assert not is_frozen(type(demo)(**{**demo.__dict__, "mode": "auto"}))
    assert is_frozen(type(demo)(**{**demo.__dict__, "mode": "auto", "weights": "e.pt"}))


def import_answers(project: Path, number: int) -> None:
    """The scripted annotator labels batch ``number`` and its answers are imported."""
    batch = project / "batches" / f"batch-{number:03d}.csv"
    answers = answer_batch(batch, project.parent / f"answers-{number}.csv")
    assert main(["import", str(project), str(answers)]) == 0


def test_a_project_pretrains_its_encoder_then_labels_from_it(tmp_path, capsys):
    digits = export_digits(tmp_path / "digits")
    project = tmp_path / "project"
    settings = [*TRAINING, "active.subset=200", "model.mode=auto"]
    args = init_digits_project(project, digits, 20, settings, "--eval", str(digits / "test"))
    assert main(args) == 0
    assert main(["query", str(project), "--k", "10", "--quiet"]) == 0
    assert "random draw" in capsys.readouterr().out  # no encoder yet: random
    import_answers(project, 1)

    assert main(["pretrain", str(project), "--epochs", "1", "--limit", "128", "--quiet"]) == 0
    info = json.loads((project / "encoder" / "encoder.json").read_text())
    assert info["images"] == len(list((digits / "train").rglob("*.png")))
    assert info["settings"]["epochs"] == 1 and info["source"] == "ll4al pretrain"
    assert not (project / "encoder" / "encoder.pt.resume").exists()

    capsys.readouterr()
    assert main(["query", str(project), "--k", "10", "--quiet"]) == 0
    assert "typical" in capsys.readouterr().out  # an encoder: the rest of the first labels
    import_answers(project, 2)
    assert main(["query", str(project), "--k", "10", "--quiet"]) == 0
    # strategy auto: core-set on the frozen head (no LPM to train), where it measured best
    assert not (project / "models" / "round-000-lpm.json").exists()
    trained = json.loads((project / "models" / "round-000.json").read_text())
    assert trained["mode"] == "frozen" and trained["network"] == "mlp"
    assert trained["encoder_info"]["images"] == info["images"]
    assert len(list((project / "cache").glob("embeddings-*.npy"))) == 2  # pool, evaluation

    capsys.readouterr()
    assert main(["status", str(project)]) == 0
    out = capsys.readouterr().out
    assert "typical first batch" in out and "encoder: pretrained on" in out
    assert "(a head on the encoder's frozen embeddings)" in out
    assert "round 0, core-set" in out
    assert main(["status", str(project), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["encoder"]["images"] == info["images"]

    # --out belongs to configs; a project keeps its own encoder
    assert main(["pretrain", str(project), "--out", "x.pt", "--quiet"]) == 2
    assert "--out and --set are for configs" in capsys.readouterr().err


def test_status_says_which_images_the_encoder_has_not_seen():
    from ll4al.project.encoder import describe_encoder

    info = {
        "source": "ll4al pretrain",
        "images": 100,
        "settings": {"epochs": 30},
        "seconds": 600.0,
        "device": "cpu (x86_64)",
        "started": "2026-12-07T10:00:00+00:00",
    }
    assert describe_encoder(info, 100) == (
        "encoder: pretrained on 100 images, 30 epochs, 10 min on cpu (x86_64) "
        "(2026-12-07T10:00:00+00:00)"
    )
    grown = describe_encoder(info, 120)
    assert "; 20 images were added since, which it has not learned from" in grown
    assert describe_encoder(None, 120).startswith("encoder: none")
