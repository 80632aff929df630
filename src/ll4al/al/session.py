"""The steps of active learning, shared by the simulated benchmark and the labeling project.

``fit`` a fresh model on the labels so far, ``evaluate`` it where a labeled evaluation set
exists, ``propose`` a batch to label, ``accept`` the labels that come back. The benchmark runs
the four in one loop with a simulated oracle; a labeling project runs ``fit`` and ``propose``
in ``ll4al query``, hours or days after the last batch's labels entered its store
(``ll4al.project.accept``), and builds its pool from that store instead of calling
``accept``. Only where the labels come from differs, so a project fed the true labels picks
what the benchmark picks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ll4al.al.first_batch import first_draw
from ll4al.al.pool import Pool
from ll4al.al.seeds import MODEL, QUERY, candidate_subset, derived_seed
from ll4al.al.training import evaluate, train
from ll4al.config import ModelSettings, TrainSettings
from ll4al.distributed import broadcast, world
from ll4al.models.learner import Learner, PoolData
from ll4al.models.lpm import LearningLoss
from ll4al.models.networks import MODELS, build_model, materialize
from ll4al.models.weights import load_weights
from ll4al.runtime import resolve_precision
from ll4al.strategies import QueryStrategy
from ll4al.tasks import TaskAdapter

#: The strategy name of a batch drawn at random before any model exists.
RANDOM_DRAW = "random"


@dataclass(frozen=True)
class LearnerRecipe:
    """How to build a fresh learner for a round: the network, the task and where it runs."""

    model: ModelSettings
    task: TaskAdapter
    num_outputs: int
    in_channels: int
    #: Two model inputs: the LPM sizes its heads from one forward pass over them.
    example_input: torch.Tensor
    device: torch.device
    precision: str = "fp32"
    eval_batch_size: int = 512

    @classmethod
    def for_pool(
        cls,
        model: ModelSettings,
        task: TaskAdapter,
        pool: PoolData,
        *,
        num_outputs: int,
        in_channels: int,
        device: torch.device,
        precision: str,
        eval_batch_size: int,
    ) -> LearnerRecipe:
        """The one way a run builds its recipe, the benchmark's and a project's alike: the
        pool's first two inputs size the LPM, and ``precision`` as configured (``auto``) is
        resolved for ``device``."""
        return cls(
            model,
            task,
            num_outputs,
            in_channels,
            example_input=pool.inputs(torch.arange(2)),
            device=device,
            precision=resolve_precision(precision, device),
            eval_batch_size=eval_batch_size,
        )

    def build(self, with_lpm: bool) -> Learner:
        """A newly initialised learner; the LPM is attached only for strategies that use it.

        With ``model.weights`` the network starts from that checkpoint (its random head kept
        where the checkpoint has none); loaded after the random initialisation, so the random
        stream, and with it every run without weights, is unchanged.
        """
        spec = MODELS[self.model.name]
        network = build_model(self.model.name, self.num_outputs, self.in_channels, self.model.width)
        materialize(network, self.example_input)
        if self.model.weights is not None:
            load_weights(network, self.model.weights)
        channels_last = self.precision == "bf16" and self.example_input.dim() == 4
        if with_lpm:
            network = LearningLoss(
                network,
                self.model.lpm_layers or spec.lpm_layers,
                hidden=self.model.lpm_hidden,
                example_input=self.example_input,
            )
        return Learner(
            network,
            self.task,
            self.device,
            self.precision,
            self.model.embedding_layer or spec.embedding_layer,
            self.eval_batch_size,
            channels_last,
        )

    def smoke_test(self, data: PoolData, labels: Sequence[Any]) -> None:
        """One forward pass, loss and inference on two samples with the LPM attached.

        Why: a wrong layer name or a model unfit for the task should fail now, not after
        hours of training. Raises ``ValueError`` or ``RuntimeError`` naming the problem.
        """
        learner = self.build(True)
        learner.infer(data, [0, 1], ["predicted_loss", "embedding"])
        with torch.no_grad():
            output, _ = learner.forward(learner.to_device(self.example_input))
            targets = self.task.collate_targets(list(labels)[:2], self.device)
            self.task.per_sample_loss(output, targets)


@dataclass
class Batch:
    """Samples proposed for labeling, most wanted first.

    ``round`` is the model round that proposed it (``None`` for a random draw before any
    model). ``scores`` (where the model gives one: its predicted loss, else its uncertainty)
    and ``guesses`` (the model's label for each) are for the annotators, not the choice.
    """

    strategy: str
    round: int | None
    indices: np.ndarray
    scores: np.ndarray | None = None
    guesses: list[Any] | None = None


class Session:
    """Active learning over one pool with one strategy and seed, one step at a time.

    Every random choice comes from ``(seed, round_index)`` (``ll4al.al.seeds``), so the steps
    may be spread over processes and days and still give the same batches. ``round_index``
    counts model rounds from 0: a labeling project's round N is a simulated run's cycle N + 1
    (records and progress bars count cycles from 1).
    """

    def __init__(
        self,
        recipe: LearnerRecipe,
        pool_data: PoolData,
        strategy: QueryStrategy,
        seed: int,
        train: TrainSettings,
        progress: bool = True,
        *,
        embeddings: np.ndarray | None = None,
    ) -> None:
        self.recipe = recipe
        self.pool_data = pool_data
        self.strategy = strategy
        self.seed = seed
        self.train_settings = train
        self.progress = progress
        #: The encoder's embedding of every pool sample, where there is an encoder: what a
        #: typical first batch is chosen on.
        self.embeddings = embeddings

    def new_learner(self, round_index: int) -> Learner:
        """The untrained learner of ``round_index``: its initial weights are fixed by the seed."""
        torch.manual_seed(derived_seed(self.seed, MODEL, round_index))
        return self.recipe.build(self.strategy.needs_loss_prediction)

    def fit(self, pool: Pool, round_index: int, desc: str = "train") -> Learner:
        """A model trained from scratch on the pool's labels, in the order they were given.

        Raises ``NonFiniteLossError`` if training diverges.
        """
        learner = self.new_learner(round_index)
        generator = torch.Generator().manual_seed(derived_seed(self.seed, MODEL, round_index, 1))
        labeled = pool.labeled
        train(
            learner,
            self.pool_data,
            labeled,
            pool.labels_of(labeled),
            self.train_settings,
            generator,
            progress=self.progress,
            desc=desc,
        )
        return learner

    @staticmethod
    def evaluate(learner: Learner, data: PoolData, labels: Sequence[Any]) -> dict[str, float]:
        """The task's metrics on a labeled evaluation set (and the LPM's ranking accuracy);
        under torchrun computed by rank 0 and shared with the others."""
        current = world()
        metrics = evaluate(learner, data, np.arange(len(labels)), labels) if current.is_main else {}
        return broadcast(metrics, current)

    def initial_batch(self, pool: Pool, k: int, rule: str = "random") -> Batch:
        """``k`` unlabeled samples chosen before any model can choose: at random, or by
        ``rule`` ``typical`` the most typical of the pool's uncovered clusters."""
        picked = first_draw(rule, pool, k, self.seed, self.embeddings)
        return Batch(RANDOM_DRAW if rule == "random" else rule, None, picked)

    def propose(self, learner: Learner, pool: Pool, round_index: int, k: int, subset: int) -> Batch:
        """The strategy's ``k`` picks from a random ``subset`` of the unlabeled pool."""
        candidates = candidate_subset(pool, subset, self.seed, round_index)
        rng = np.random.default_rng(derived_seed(self.seed, QUERY, round_index))
        picked = self.strategy.query(learner, self.pool_data, pool.labeled, candidates, k, rng)
        # every rank scored its shard and selected alike; rank 0's picks are the ones kept,
        # so the ranks cannot drift apart
        return Batch(self.strategy.name, round_index, broadcast(picked, world()))

    def describe(self, learner: Learner, batch: Batch) -> Batch:
        """The batch with the model's score and guess for each sample, for the annotators."""
        if learner.has_loss_prediction:
            scores = learner.infer(self.pool_data, batch.indices, ["predicted_loss"])
            batch.scores = scores["predicted_loss"].double().numpy()
        elif learner.task.has_uncertainty:
            scores = learner.infer(self.pool_data, batch.indices, ["uncertainty"])
            batch.scores = scores["uncertainty"].double().numpy()
        try:
            batch.guesses = learner.predict(self.pool_data, batch.indices)
        except NotImplementedError:  # a task without guesses still gets its batch
            batch.guesses = None
        return batch

    @staticmethod
    def accept(pool: Pool, batch: Batch, labels: Sequence[Any]) -> None:
        """Record the labels of a batch's samples, in the batch's order."""
        pool.add_labels(batch.indices, labels)
