"""An experiment: strategies x seeds of simulated active-learning runs from one config.

Several processes may run the same experiment into the same directory at once: each
(strategy, seed) run is claimed by one of them (``claims.py``), and each process ends by
waiting for the runs others hold, so every process finishes with the complete
``results.jsonl``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from tqdm.auto import tqdm

from ll4al.al.checks import check_protocol_fits
from ll4al.al.pool import SimulatedOracle
from ll4al.al.session import LearnerRecipe
from ll4al.al.simulation import ActiveLearningRun, RunSpec
from ll4al.config import ConfigError, ExperimentConfig, config_from_dict
from ll4al.data.imagefolder import cache_dir
from ll4al.data.registry import data_set, load_task_data
from ll4al.distributed import barrier, device_for, init_distributed
from ll4al.encoders.frozen import Images, round_inputs
from ll4al.experiments.claims import job_claim
from ll4al.experiments.results import (
    LOCK_FILE,
    RESULTS_FILE,
    append_result,
    read_results,
    run_records,
)
from ll4al.experiments.validation import validate_config
from ll4al.files import CorruptFileError, file_lock, write_text_atomic
from ll4al.runtime import select_device
from ll4al.strategies import get_strategy


def run_dir_for(out_dir: Path, strategy: str, seed: int) -> Path:
    return out_dir / "runs" / f"{strategy}-seed{seed}"


CONFIG_FILE = "config.yaml"


def _differences(old: Any, new: Any, where: str = "") -> list[str]:
    """The dotted keys at which two nested mappings differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = [*old, *(k for k in new if k not in old)]
        found = []
        for key in keys:
            name = f"{where}.{key}" if where else str(key)
            if key not in old or key not in new:
                found.append(name)
            else:
                found += _differences(old[key], new[key], name)
        return found
    return [] if old == new else [where]


def _folder_config(out_dir: Path, config: ExperimentConfig) -> ExperimentConfig | None:
    """The config of the results already in ``out_dir`` (None if there are none), checked to
    be the same experiment as ``config`` but for its strategies and seeds."""
    path = out_dir / CONFIG_FILE
    if not path.exists():
        return None
    try:
        values = yaml.safe_load(path.read_bytes().decode("utf-8"))
        saved = config_from_dict(values if values is not None else {})
    except (yaml.YAMLError, UnicodeDecodeError, ConfigError) as err:
        message = " ".join(str(err).split())
        raise CorruptFileError(f"{path} is not a readable config ({message})") from None
    differ = _differences(saved.fingerprint(), config.fingerprint())
    if differ:
        old, new = saved.fingerprint(), config.fingerprint()
        shown = "; ".join(f"{k}: {_at(old, k)!r} there, {_at(new, k)!r} here" for k in differ[:5])
        raise ConfigError(
            f"{out_dir} holds results of a different configuration ({shown}); use another "
            "--out, or the same settings (only strategies and seeds may change)"
        )
    return saved


def _at(values: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(values, dict) or part not in values:
            return "(unset)"
        values = values[part]
    return values


def check_out_dir(out_dir: Path, config: ExperimentConfig) -> None:
    """Refuse, before anything is loaded or written, an output folder that is a file, or
    that holds results another command or another configuration wrote."""
    existing = next((p for p in (out_dir, *out_dir.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(f"{existing} is a file, not a folder; use another --out")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{existing} is not writable; use another --out")
    if out_dir.is_dir():
        read_results(out_dir / RESULTS_FILE)
        _folder_config(out_dir, config)


def _write_folder_config(out_dir: Path, config: ExperimentConfig) -> None:
    """Write ``config.yaml``: this config, with the strategies and seeds of the results the
    folder already holds added, so that it describes all of them (under the results lock, so
    workers with different lists add up)."""
    with file_lock(out_dir / LOCK_FILE):
        saved = _folder_config(out_dir, config)
        values = config.to_dict()
        if saved is not None:
            values["strategies"] = [
                *saved.strategies,
                *(s for s in config.strategies if s not in saved.strategies),
            ]
            values["seeds"] = [*saved.seeds, *(s for s in config.seeds if s not in saved.seeds)]
        write_text_atomic(out_dir / CONFIG_FILE, yaml.safe_dump(values, sort_keys=False))


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | Path,
    progress: bool = True,
    on_cycle: Callable[[dict[str, Any]], None] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run (or resume) every strategy and seed of ``config``; returns the records of
    ``results.jsonl`` (each run appends its cycles' records there, rank 0 under torchrun).
    ``on_cycle`` sees each new record; ``log`` receives a line when saved cycles are resumed."""
    out_dir = Path(out_dir)
    validate_config(config)
    device = device_for(select_device(config.device))  # under torchrun: this rank's GPU
    current = init_distributed(device)  # a no-op unless launched by torchrun
    main = current.is_main
    progress = progress and main
    check_out_dir(out_dir, config)
    data = load_task_data(config.data, progress)
    check_protocol_fits(config.active, len(data.train))
    if data.train.targets is None or data.test.targets is None:
        raise ConfigError("a simulated experiment needs the labels of the pool and test set")

    recipe = LearnerRecipe.for_pool(
        config.model,
        data_set(config.data.name).task().with_metric(config.data.metric),
        data.train,
        num_outputs=data.num_outputs,
        in_channels=data.in_channels,
        device=device,
        precision=config.precision,
        eval_batch_size=config.eval_batch_size,
    )
    inputs = round_inputs(
        recipe,
        config.train,
        Images(data.train, data.train.content_digest()),
        Images(data.test, data.test.content_digest()),
        need_embeddings=config.active.first == "typical",
        cache=cache_dir() / "embeddings",
        progress=progress,
    )
    try:
        inputs.recipe.smoke_test(inputs.pool, data.train.targets[:2].tolist())
    except (ValueError, RuntimeError) as err:
        raise ConfigError(f"model {config.model.name!r}: {err}") from err

    fingerprint = config.fingerprint()
    test_labels = data.test.targets.tolist()
    oracle = SimulatedOracle(data.train.targets)

    def write_record(record: dict[str, Any]) -> None:
        if main:
            append_result(out_dir, record)

    runs = [  # built up front: a state from another configuration fails before any work
        ActiveLearningRun(
            run_dir_for(out_dir, name, seed),
            RunSpec(
                get_strategy(name), seed, inputs.train, config.active, fingerprint, config.stop
            ),
            inputs.recipe,
            inputs.pool,
            oracle,
            inputs.evaluation,
            test_labels,
            write_record,
            progress,
            embeddings=inputs.embeddings,
            read_records=partial(run_records, out_dir, name, seed),
        )
        for seed in config.seeds
        for name in config.strategies
    ]
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_folder_config(out_dir, config)

    done = sum(run.next_cycle for run in runs)
    if done and main:
        log(f"resuming from {done} saved cycle(s) in {out_dir}")
    overall = tqdm(
        total=len(runs) * config.active.cycles,
        initial=done,
        desc=config.name,
        unit="cycle",
        disable=not progress,
    )

    def cycle_done(record: dict[str, Any]) -> None:
        if not main:
            return
        overall.update(1)
        if on_cycle is not None:
            on_cycle(record)

    def run_claimed(run: ActiveLearningRun) -> None:
        before = run.next_cycle
        barrier(current)  # rank 0's state file is complete before any rank reads it
        run.reload()
        overall.update(run.next_cycle - before)
        run.run(on_cycle=cycle_done)

    busy = []  # runs another worker holds: done last, once it lets go (or resumed if it died)
    for run in runs:
        with job_claim(run.run_dir, wait=False, current=current) as mine:
            if mine:
                run_claimed(run)
            else:
                busy.append(run)
    for run in busy:
        with job_claim(run.run_dir, wait=True, current=current):
            run_claimed(run)
    overall.close()
    barrier(current)
    return read_results(out_dir / RESULTS_FILE) if main else []
