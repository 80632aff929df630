"""The simulated active-learning run of one strategy and one seed, saved after every cycle.

Cycle c: the session fits a model on the labeled set, evaluates it on the test set and
proposes K samples from a random subset of the unlabeled pool; a simulated oracle labels them
at once; the cycle's record is written; the state is saved. A killed run resumes from its last
saved cycle and reaches the same labeled sets and records (``ll4al.al.seeds``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ll4al.al.forecast import agreement_check, stop_check
from ll4al.al.pool import Oracle, Pool, PoolError
from ll4al.al.seeds import stop_set
from ll4al.al.session import LearnerRecipe, Session
from ll4al.al.signals import round_signals
from ll4al.al.training import NonFiniteLossError, TrainSettings
from ll4al.config import ActiveSettings, StopSettings
from ll4al.distributed import world
from ll4al.files import CorruptFileError, read_json, write_json_atomic
from ll4al.models.learner import PoolData
from ll4al.strategies import QueryStrategy


class CycleError(RuntimeError):
    """A cycle failed; the state saved after the previous cycle is kept intact."""


@dataclass
class RunSpec:
    """Everything one (strategy, seed) run needs, apart from the data and the model."""

    strategy: QueryStrategy
    seed: int
    train: TrainSettings
    active: ActiveSettings
    #: The settings the saved state must have been written under, to be resumed.
    fingerprint: dict[str, Any]
    #: A stop rule: each record says whether it is met (the run goes on regardless).
    stop: StopSettings = field(default_factory=StopSettings)


class ActiveLearningRun:
    """Runs (or resumes) the cycles of one strategy and seed, saving ``state.json`` each time.

    The session's steps with a simulated oracle: the data set's own labels answer at once.
    Each cycle's record goes to ``write_record`` (an experiment's results file) before the
    state that marks the cycle done is saved: a kill between the two reruns the cycle, and
    the writer keeps one copy of a record it already has. The state holds the pool, not the
    records: a stop rule, checked on the run's curve so far, gets the earlier cycles' records
    from ``read_records`` (the experiment's results file) once, and adds each new one.
    """

    def __init__(
        self,
        run_dir: str | Path,
        spec: RunSpec,
        recipe: LearnerRecipe,
        pool_data: PoolData,
        oracle: Oracle,
        test_data: PoolData,
        test_labels: list[Any],
        write_record: Callable[[dict[str, Any]], None],
        progress: bool = True,
        *,
        embeddings: np.ndarray | None = None,
        read_records: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.spec = spec
        self.session = Session(
            recipe,
            pool_data,
            spec.strategy,
            spec.seed,
            spec.train,
            progress,
            embeddings=embeddings,
        )
        self.task = recipe.task
        self.pool_data = pool_data
        self.oracle = oracle
        self.test_data = test_data
        self.test_labels = test_labels
        self.write_record = write_record
        #: This run's records written so far (any order, repeats allowed); none if not given.
        self.read_records = read_records or list
        self.state_path = self.run_dir / "state.json"
        #: The last round's predictions on the stop set (``stop.stop_set``), kept in the state.
        self.stop_predictions: list[int] | None = None
        #: The records of the cycles done (read when a stop rule first needs them).
        self.records: list[dict[str, Any]] | None = None
        self.pool, self.next_cycle = self._load_or_start()

    def _fingerprint_digest(self) -> str:
        blob = json.dumps(self.spec.fingerprint, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()

    def _load_or_start(self) -> tuple[Pool, int]:
        if self.state_path.exists():
            return self._load_state()
        self.stop_predictions = None
        pool = Pool(len(self.pool_data))
        initial = self.spec.active.initial
        if initial > pool.size:
            raise PoolError(
                f"initial labeled set ({initial}) is larger than the pool ({pool.size})"
            )
        batch = self.session.initial_batch(pool, initial, self.spec.active.first)
        self.session.accept(pool, batch, self.oracle(batch.indices))
        return pool, 0

    def _load_state(self) -> tuple[Pool, int]:
        """The saved state, checked: anything but what ``_save`` writes (a list, a missing
        pool, a cycle that is not a number, an index labeled twice) is a ``CorruptFileError``
        naming the file, which is left as it is.

        A state saved before records went straight to ``write_record`` carries them (the last
        one perhaps never merged into the results): they are written again, and the writer
        keeps the copies it has."""
        path = self.state_path
        state = read_json(path)

        def corrupt(problem: str) -> CorruptFileError:
            return CorruptFileError(f"{path} is corrupt ({problem}); it was left as it is")

        if not isinstance(state, dict):
            raise corrupt(f"a JSON object is needed, got {type(state).__name__}")
        if state.get("fingerprint") != self._fingerprint_digest():
            raise PoolError(
                f"{path} was written by a different configuration; "
                "use another output directory or delete that run to start over"
            )
        missing = [k for k in ("pool", "next_cycle") if k not in state]
        if missing:
            raise corrupt(f"it lacks {', '.join(missing)}")
        next_cycle, records = state["next_cycle"], state.get("records", [])
        if not isinstance(next_cycle, int) or isinstance(next_cycle, bool) or next_cycle < 0:
            raise corrupt(f"next_cycle must be a whole number >= 0, got {next_cycle!r}")
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise corrupt("records must be a list of objects")
        if "records" in state and len(records) != next_cycle:
            raise corrupt(f"{len(records)} records for {next_cycle} finished cycles")
        try:
            pool = Pool.from_dict(state["pool"])
        except PoolError as err:
            raise corrupt(str(err)) from err
        self.stop_predictions = state.get("stop_predictions")
        if pool.size != len(self.pool_data):
            raise corrupt(f"its pool has {pool.size} samples, the data set {len(self.pool_data)}")
        for record in records:
            self.write_record(record)
        return pool, next_cycle

    def _save(self) -> None:
        """Rank 0 writes the state (under torchrun every rank holds the same one)."""
        if not world().is_main:
            return
        write_json_atomic(
            self.state_path,
            {
                "fingerprint": self._fingerprint_digest(),
                "strategy": self.spec.strategy.name,
                "seed": self.spec.seed,
                "next_cycle": self.next_cycle,
                "pool": self.pool.to_dict(),
                **({"stop_predictions": self.stop_predictions} if self.spec.stop.stop_set else {}),
            },
        )

    def reload(self) -> None:
        """Re-read the saved state: another worker may have advanced this run meanwhile."""
        self.records = None
        self.pool, self.next_cycle = self._load_or_start()

    @property
    def finished(self) -> bool:
        return self.next_cycle >= self.spec.active.cycles

    def run(self, on_cycle: Callable[[dict[str, Any]], None] | None = None) -> list[dict]:
        """Run the remaining cycles; returns their records. ``on_cycle`` (progress) sees each
        new record once it is written and the state saved."""
        records = []
        while not self.finished:
            records.append(self.run_cycle(self.next_cycle))
            if on_cycle is not None:
                on_cycle(records[-1])
        return records

    @property
    def _rule_on(self) -> bool:
        """Whether a stop rule is set (on the gain or the agreement; ``stop_set`` alone only
        records the signals), so each record says whether it is met."""
        return self.spec.stop.on_gain or self.spec.stop.min_agreement is not None

    def _done_records(self, cycle: int) -> list[dict[str, Any]]:
        """The records of the ``cycle`` cycles done, in order: read once from
        ``read_records`` (a resumed run's earlier cycles), then kept as cycles run. Records
        that are missing there (a results file cut back) are an error, not a shorter curve."""
        if self.records is None or len(self.records) != cycle:
            by_cycle = {r["cycle"]: r for r in self.read_records()}
            missing = [c for c in range(1, cycle + 1) if c not in by_cycle]
            if missing:
                raise CorruptFileError(
                    f"the stop rule of {self.spec.strategy.name} (seed {self.spec.seed}) needs "
                    f"the records of its {cycle} finished cycle(s), and the results lack "
                    f"cycle(s) {', '.join(map(str, missing))}; delete {self.run_dir} to rerun it"
                )
            self.records = [by_cycle[c] for c in range(1, cycle + 1)]
        return self.records

    def _stop_rule_met(self, cycle: int, record: dict[str, Any]) -> bool:
        """Whether a stop rule is met after this cycle (the forecast gain of the run's primary
        metric, or the stop set's agreement): the first record where it is says where the rule
        would have stopped."""
        curve = [*self._done_records(cycle), record]
        metric = self.task.metric_name
        labels = [r["labeled"] for r in curve]
        values = [r[metric] for r in curve]
        rule = self.spec.stop
        checks = (
            stop_check(labels, values, self.spec.active.query_size, rule),
            agreement_check([r.get("stop_agreement") for r in curve], rule),
        )
        return any(check is not None and check.met for check in checks)

    def run_cycle(self, cycle: int) -> dict[str, Any]:
        spec, session = self.spec, self.session
        cycles = spec.active.cycles
        labeled = self.pool.labeled
        desc = f"{spec.strategy.name} s{spec.seed} c{cycle + 1}/{cycles} n={len(labeled)}"
        started = time.perf_counter()
        try:
            learner = session.fit(self.pool, cycle, desc)
        except NonFiniteLossError as err:
            raise CycleError(
                f"cycle {cycle + 1} of {spec.strategy.name} (seed {spec.seed}) stopped: {err}. "
                f"The state saved after cycle {cycle} in {self.state_path} is kept; "
                "lower the learning rate or check the data, then run again to resume."
            ) from err
        train_seconds = time.perf_counter() - started
        metrics = session.evaluate(learner, self.test_data, self.test_labels)
        record: dict[str, Any] = {
            "strategy": spec.strategy.name,
            "seed": spec.seed,
            "cycle": cycle + 1,
            "labeled": len(labeled),
            "primary_metric": self.task.metric_name,
            **metrics,
            "train_seconds": round(train_seconds, 2),
        }
        if spec.stop.stop_set:
            indices = stop_set(len(self.pool_data), spec.stop.stop_set, spec.seed)
            signals, self.stop_predictions = round_signals(
                learner, self.pool_data, indices, self.stop_predictions
            )
            record.update(signals)
        if self._rule_on:
            record["stop_rule_met"] = self._stop_rule_met(cycle, record)
        if cycle + 1 < cycles:
            started = time.perf_counter()
            batch = session.propose(
                learner, self.pool, cycle, spec.active.query_size, spec.active.subset
            )
            session.accept(self.pool, batch, self.oracle(batch.indices))
            record["query_seconds"] = round(time.perf_counter() - started, 2)
            record.update({f"query_{k}": v for k, v in spec.strategy.last_query_info.items()})
        self.write_record(record)
        if self.records is not None:
            self.records.append(record)
        self.next_cycle = cycle + 1
        self._save()
        return record
