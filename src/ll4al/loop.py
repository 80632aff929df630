"""The active-learning cycle of one strategy and one seed, saved after every cycle.

Cycle c: train from scratch on the labeled set, evaluate on the test set, draw a random
subset of the unlabeled pool, let the strategy pick K of it, ask the oracle, save. Every random
choice is derived from (seed, cycle), so a killed run resumes from its last saved cycle and
reaches the same labeled sets, and for one seed all strategies share the initial labeled set,
the model initialisation of a cycle and the order in which the pool is subsampled.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ll4al.files import read_json, write_json_atomic
from ll4al.learner import Learner, PoolData
from ll4al.lpm import LearningLoss
from ll4al.pool import Oracle, Pool, PoolError
from ll4al.strategies import QueryStrategy
from ll4al.tasks import TaskAdapter
from ll4al.training import NonFiniteLossError, TrainSettings, evaluate, train

# Purposes of derived random streams, so that they never collide.
_INIT, _SUBSET, _MODEL, _QUERY = 0, 1, 2, 3


def derived_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed for one purpose of one cycle, independent of every other."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(2, np.uint64)[0] >> 1)


def initial_indices(pool_size: int, count: int, seed: int) -> np.ndarray:
    """The random initial labeled set: the same for every strategy under one seed."""
    rng = np.random.default_rng(derived_seed(seed, _INIT))
    return np.sort(rng.choice(pool_size, size=count, replace=False))


def candidate_subset(pool: Pool, size: int, seed: int, cycle: int) -> np.ndarray:
    """A random subset of the unlabeled pool.

    A permutation of the whole pool fixed by (seed, cycle) is filtered to the unlabeled
    samples, so strategies that labeled different samples still see the same order.
    """
    rng = np.random.default_rng(derived_seed(seed, _SUBSET, cycle))
    order = rng.permutation(pool.size)
    return order[pool.unlabeled_mask[order]][:size]


class CycleError(RuntimeError):
    """A cycle failed; the state saved after the previous cycle is kept intact."""


@dataclass
class RunSpec:
    """Everything one (strategy, seed) run needs, apart from the data."""

    strategy: QueryStrategy
    seed: int
    train: TrainSettings
    initial: int
    query_size: int
    subset: int
    cycles: int
    fingerprint: dict[str, Any]


class ActiveLearningRun:
    """Runs (or resumes) the cycles of one strategy and seed, saving ``state.json`` each time."""

    def __init__(
        self,
        run_dir: str | Path,
        spec: RunSpec,
        make_learner: Callable[[bool], Learner],
        task: TaskAdapter,
        pool_data: PoolData,
        oracle: Oracle,
        test_data: PoolData,
        test_labels: list[Any],
        progress: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.spec = spec
        self.make_learner = make_learner
        self.task = task
        self.pool_data = pool_data
        self.oracle = oracle
        self.test_data = test_data
        self.test_labels = test_labels
        self.progress = progress
        self.state_path = self.run_dir / "state.json"
        self.pool, self.next_cycle, self.records = self._load_or_start()

    def _fingerprint_digest(self) -> str:
        blob = json.dumps(self.spec.fingerprint, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()

    def _load_or_start(self) -> tuple[Pool, int, list[dict[str, Any]]]:
        if self.state_path.exists():
            state = read_json(self.state_path)
            if state.get("fingerprint") != self._fingerprint_digest():
                raise PoolError(
                    f"{self.state_path} was written by a different configuration; "
                    "use another output directory or delete that run to start over"
                )
            return Pool.from_dict(state["pool"]), int(state["next_cycle"]), state["records"]
        pool = Pool(len(self.pool_data))
        if self.spec.initial > pool.size:
            raise PoolError(
                f"initial labeled set ({self.spec.initial}) is larger than the pool ({pool.size})"
            )
        pool.label_with(self.oracle, initial_indices(pool.size, self.spec.initial, self.spec.seed))
        return pool, 0, []

    def _save(self) -> None:
        write_json_atomic(
            self.state_path,
            {
                "fingerprint": self._fingerprint_digest(),
                "strategy": self.spec.strategy.name,
                "seed": self.spec.seed,
                "next_cycle": self.next_cycle,
                "pool": self.pool.to_dict(),
                "records": self.records,
            },
        )

    def reload(self) -> None:
        """Re-read the saved state: another worker may have advanced this run meanwhile."""
        self.pool, self.next_cycle, self.records = self._load_or_start()

    @property
    def finished(self) -> bool:
        return self.next_cycle >= self.spec.cycles

    def run(self, on_cycle: Callable[[dict[str, Any]], None] | None = None) -> list[dict]:
        """Run the remaining cycles; ``on_cycle`` sees each new record once it is saved."""
        while not self.finished:
            record = self.run_cycle(self.next_cycle)
            if on_cycle is not None:
                on_cycle(record)
        return self.records

    def run_cycle(self, cycle: int) -> dict[str, Any]:
        spec = self.spec
        torch.manual_seed(derived_seed(spec.seed, _MODEL, cycle))
        learner = self.make_learner(spec.strategy.needs_loss_prediction)
        generator = torch.Generator().manual_seed(derived_seed(spec.seed, _MODEL, cycle, 1))
        labeled = self.pool.labeled
        desc = f"{spec.strategy.name} s{spec.seed} c{cycle + 1}/{spec.cycles} n={len(labeled)}"
        started = time.perf_counter()
        try:
            train(
                learner,
                self.pool_data,
                labeled,
                self.pool.labels_of(labeled),
                spec.train,
                generator,
                progress=self.progress,
                desc=desc,
            )
        except NonFiniteLossError as err:
            raise CycleError(
                f"cycle {cycle + 1} of {spec.strategy.name} (seed {spec.seed}) stopped: {err}. "
                f"The state saved after cycle {cycle} in {self.state_path} is kept; "
                "lower the learning rate or check the data, then run again to resume."
            ) from err
        train_seconds = time.perf_counter() - started
        metrics = evaluate(
            learner, self.test_data, np.arange(len(self.test_labels)), self.test_labels
        )
        record: dict[str, Any] = {
            "strategy": spec.strategy.name,
            "seed": spec.seed,
            "cycle": cycle + 1,
            "labeled": len(labeled),
            "primary_metric": self.task.metric_name,
            **metrics,
            "train_seconds": round(train_seconds, 2),
        }
        if cycle + 1 < spec.cycles:
            started = time.perf_counter()
            candidates = candidate_subset(self.pool, spec.subset, spec.seed, cycle)
            rng = np.random.default_rng(derived_seed(spec.seed, _QUERY, cycle))
            picked = spec.strategy.query(
                learner, self.pool_data, labeled, candidates, spec.query_size, rng
            )
            self.pool.label_with(self.oracle, picked)
            record["query_seconds"] = round(time.perf_counter() - started, 2)
        self.records.append(record)
        self.next_cycle = cycle + 1
        self._save()
        return record


def build_learner(
    model: nn.Module,
    task: TaskAdapter,
    device: torch.device,
    precision: str,
    with_lpm: bool,
    lpm_layers: list[str],
    lpm_hidden: int,
    example_input: torch.Tensor,
    embedding_layer: str | None,
    batch_size: int,
) -> Learner:
    """A learner for one cycle; the LPM is attached only for strategies that use it."""
    channels_last = precision == "bf16" and example_input.dim() == 4
    if with_lpm:
        model = LearningLoss(model, lpm_layers, hidden=lpm_hidden, example_input=example_input)
    return Learner(model, task, device, precision, embedding_layer, batch_size, channels_last)
