from pathlib import Path

import pytest

from ll4al.al.checks import check_protocol_fits
from ll4al.config import ConfigError, config_from_dict, load_config, named_configs
from ll4al.experiments.validation import validate_config


def test_shipped_configs_load_and_validate(tmp_path, monkeypatch):
    assert {"demo", "cifar10-paper", "cifar10-cpu", "face-keypoints-cpu"} <= set(named_configs())
    monkeypatch.chdir(tmp_path)  # where the checkpoints a config names are made (runs/...)
    for name in named_configs():
        config = load_config(name)
        if config.model.weights:
            Path(config.model.weights).parent.mkdir(parents=True, exist_ok=True)
            Path(config.model.weights).touch()
        validate_config(config)
    paper = load_config("cifar10-paper")
    assert (paper.train.epochs, paper.train.lr, paper.train.milestones) == (200, 0.1, [160])
    assert (paper.train.stop_gradient_epoch, paper.active.subset, len(paper.seeds)) == (
        120,
        10000,
        5,
    )


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"train\.'epoch'.*Did you mean 'epochs'"):
        config_from_dict({"train": {"epoch": 3}})
    with pytest.raises(ConfigError, match="'colour'"):
        config_from_dict({"colour": "red"})


def test_overrides_and_file(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("name: x\nactive: {initial: 5, query_size: 2, subset: 4, cycles: 2}\n")
    config = load_config(str(path), ["train.epochs=3", "seeds=[4, 5]", "model.width=0.5"])
    assert (config.train.epochs, config.seeds, config.model.width) == (3, [4, 5], 0.5)
    assert config.active.subset == 4


def test_impossible_protocols_are_refused():
    with pytest.raises(ConfigError, match="larger than active.subset"):
        validate_config(config_from_dict({"active": {"query_size": 20, "subset": 10}}))
    config = config_from_dict({"active": {"initial": 50, "query_size": 50, "cycles": 4}})
    with pytest.raises(ConfigError, match="only 100 samples"):
        check_protocol_fits(config.active, 100)
    with pytest.raises(ConfigError, match="unknown strategies"):
        validate_config(config_from_dict({"strategies": ["random", "magic"]}))
    with pytest.raises(ConfigError, match="augment must be 'crop-flip' or 'none'"):
        validate_config(
            config_from_dict({"train": {"augment": "mixup"}})
        )  # the task's augmentation
    with pytest.raises(ConfigError, match="initial must be >= 2"):
        validate_config(config_from_dict({"active": {"initial": 1}}))
    with pytest.raises(ConfigError, match="precision"):
        validate_config(config_from_dict({"precision": "fp8"}))
    with pytest.raises(ConfigError, match="invalid device"):
        validate_config(config_from_dict({"device": "gpu0"}))
    with pytest.raises(ConfigError, match="unknown model"):
        validate_config(config_from_dict({"model": {"name": "vgg"}}))
    with pytest.raises(ConfigError, match="data.validation must be an integer >= 0"):
        validate_config(config_from_dict({"data": {"validation": -5}}))


def test_values_of_the_wrong_shape_are_refused():
    with pytest.raises(ConfigError, match=r"seeds must be a list, e.g. \[3\]"):
        config_from_dict({"seeds": 3})
    with pytest.raises(ConfigError, match="strategies must be a list"):
        config_from_dict({"strategies": "learning-loss"})
    with pytest.raises(ConfigError, match="data must be a mapping"):
        config_from_dict({"data": "cifar10"})
    assert config_from_dict({"model": {"lpm_layers": None}}).model.lpm_layers is None


def test_missing_config_names_the_shipped_ones():
    with pytest.raises(ConfigError, match="cifar10-paper"):
        load_config("no-such-config")


def test_ranker_settings_are_checked_and_left_out_of_old_fingerprints():
    config = load_config("demo", ["train.rank_pairs=all", "train.rank_loss=listwise"])
    assert (config.train.rank_pairs, config.train.rank_loss) == ("all", "listwise")
    assert {"rank_pairs", "rank_loss"}.isdisjoint(load_config("demo").fingerprint()["train"])
    assert config.fingerprint()["train"]["rank_loss"] == "listwise"
    for key, value in [("rank_pairs", "some"), ("rank_loss", "ndcg")]:
        with pytest.raises(ConfigError, match=f"^invalid train: {key} must be '") as err:
            config_from_dict({"train": {key: value}})
        assert "\n" not in str(err.value) and repr(value) in str(err.value)
    with pytest.raises(ConfigError, match="train.rank_loss must be a string, got 2"):
        config_from_dict({"train": {"rank_loss": 2}})


def test_a_stop_rule_changes_neither_the_fingerprint_nor_a_config_without_one():
    """``stop:`` only records where a run would have stopped: a run with it resumes a run
    without it, and a config without it writes what it wrote before the key existed."""
    plain = load_config("demo")
    ruled = load_config("demo", ["stop.min_gain_per_100=0.5"])
    assert ruled.stop.active and not plain.stop.active
    assert ruled.fingerprint() == plain.fingerprint()
    assert "stop" not in plain.to_dict() and ruled.to_dict()["stop"]["min_gain_per_100"] == 0.5
    priced = load_config("demo", ["stop.max_cost_per_point=100"])
    with pytest.raises(ConfigError, match="needs a price per label"):
        validate_config(priced)
