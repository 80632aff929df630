"""An experiment: strategies x seeds of simulated active-learning runs from one config.

Several processes may run the same experiment into the same directory at once: each
(strategy, seed) run is claimed by one of them (``claims.py``), and each process ends by
waiting for the runs others hold, so every process finishes with the complete
``results.jsonl``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm.auto import tqdm

from ll4al.al.checks import check_protocol_fits
from ll4al.al.pool import SimulatedOracle
from ll4al.al.session import LearnerRecipe
from ll4al.al.simulation import ActiveLearningRun, RunSpec
from ll4al.config import ConfigError, ExperimentConfig
from ll4al.data.registry import data_set, load_task_data
from ll4al.experiments.checks import validate_config
from ll4al.experiments.claims import claim
from ll4al.files import write_text_atomic
from ll4al.runtime import resolve_precision, select_device
from ll4al.strategies import get_strategy

RESULTS_FILE = "results.jsonl"


def run_dir_for(out_dir: Path, strategy: str, seed: int) -> Path:
    return out_dir / "runs" / f"{strategy}-seed{seed}"


def write_results(out_dir: Path, runs: list[ActiveLearningRun]) -> list[dict[str, Any]]:
    """Rewrite ``results.jsonl`` from the runs' saved records, sorted by strategy, seed and
    cycle: a resumed run never duplicates a line, and runs of other configs are left out."""
    records = sorted(
        (r for run in runs for r in run.records),
        key=lambda r: (r["strategy"], r["seed"], r["cycle"]),
    )
    write_text_atomic(out_dir / RESULTS_FILE, "".join(json.dumps(r) + "\n" for r in records))
    return records


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | Path,
    progress: bool = True,
    on_cycle: Callable[[dict[str, Any]], None] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run (or resume) every strategy and seed of ``config``; returns the records written to
    ``results.jsonl``. ``log`` receives a line when saved cycles are resumed."""
    out_dir = Path(out_dir)
    validate_config(config)
    data = load_task_data(config.data, progress)
    check_protocol_fits(config.active, len(data.train))
    if data.train.targets is None or data.test.targets is None:
        raise ConfigError("a simulated experiment needs the labels of the pool and test set")

    device = select_device(config.device)
    recipe = LearnerRecipe(
        config.model,
        data_set(config.data.name).task(),
        data.num_outputs,
        data.in_channels,
        example_input=data.train.inputs(torch.arange(2)),
        device=device,
        precision=resolve_precision(config.precision, device),
        eval_batch_size=config.eval_batch_size,
    )
    try:
        recipe.smoke_test(data.train, data.train.targets[:2].tolist())
    except (ValueError, RuntimeError) as err:
        raise ConfigError(f"model {config.model.name!r}: {err}") from err

    fingerprint = config.fingerprint()
    test_labels = data.test.targets.tolist()
    oracle = SimulatedOracle(data.train.targets)

    runs = [  # built up front: a state from another configuration fails before any work
        ActiveLearningRun(
            run_dir_for(out_dir, name, seed),
            RunSpec(get_strategy(name), seed, config.train, config.active, fingerprint),
            recipe,
            data.train,
            oracle,
            data.test,
            test_labels,
            progress,
        )
        for seed in config.seeds
        for name in config.strategies
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))

    done = sum(run.next_cycle for run in runs)
    if done:
        log(f"resuming from {done} saved cycle(s) in {out_dir}")
    overall = tqdm(
        total=len(runs) * config.active.cycles,
        initial=done,
        desc=config.name,
        unit="cycle",
        disable=not progress,
    )

    def record_cycle(record: dict[str, Any]) -> None:
        write_results(out_dir, runs)
        overall.update(1)
        if on_cycle is not None:
            on_cycle(record)

    def run_claimed(run: ActiveLearningRun) -> None:
        before = run.next_cycle
        run.reload()
        overall.update(run.next_cycle - before)
        run.run(on_cycle=record_cycle)

    busy = []  # runs another worker holds: done last, once it lets go (or resumed if it died)
    for run in runs:
        with claim(run.run_dir, wait=False) as mine:
            if mine:
                run_claimed(run)
            else:
                busy.append(run)
    for run in busy:
        with claim(run.run_dir, wait=True):
            run_claimed(run)
    overall.close()
    return write_results(out_dir, runs)
