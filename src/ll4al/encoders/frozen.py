"""A frozen round: a small head trained on the cached embeddings instead of a whole network.

Why: with a good self-supervised encoder, a head on its embeddings learns from a few hundred
labels about as well as fine-tuning, in seconds instead of minutes, so a round is fast enough
to label interactively. The head is the registered ``mlp`` (two hidden layers) whose input is
the embedding: the LPM hangs off its hidden layers, so every learning-loss strategy works on
it, and its ``embedding_layer`` is the cached embedding itself (``flatten``), which core-set
and BADGE then read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ll4al.al.session import LearnerRecipe
from ll4al.config import ModelSettings, TrainSettings
from ll4al.encoders.cache import cached_embeddings
from ll4al.models.learner import PoolData

#: The head network and the layer whose output is its input, the cached embedding.
HEAD_MODEL, HEAD_INPUT_LAYER = "mlp", "flatten"


class EmbeddingData:
    """Cached embeddings ``[N, D]`` served as model inputs, standardised per dimension by the
    pool's statistics (SGD on raw ReLU features of very different scales trains poorly)."""

    def __init__(self, embeddings: np.ndarray, mean: np.ndarray, std: np.ndarray) -> None:
        self.embeddings = embeddings
        self._mean = torch.as_tensor(np.asarray(mean, dtype=np.float32))
        self._std = torch.as_tensor(np.maximum(np.asarray(std, dtype=np.float32), 1e-6))

    @classmethod
    def of_pool(cls, embeddings: np.ndarray) -> EmbeddingData:
        array = np.asarray(embeddings, dtype=np.float64)
        return cls(embeddings, array.mean(axis=0), array.std(axis=0))

    def with_embeddings(self, embeddings: np.ndarray) -> EmbeddingData:
        """Other embeddings (an evaluation set's) standardised as the pool's are."""
        return EmbeddingData(embeddings, self._mean.numpy(), self._std.numpy())

    def __len__(self) -> int:
        return len(self.embeddings)

    def inputs(self, indices: np.ndarray | torch.Tensor) -> torch.Tensor:
        rows = np.asarray(torch.as_tensor(indices, dtype=torch.long))
        batch = torch.from_numpy(np.ascontiguousarray(self.embeddings[rows], dtype=np.float32))
        return (batch - self._mean) / self._std


def is_frozen(model: ModelSettings) -> bool:
    """Whether ``model.mode`` trains a head on frozen embeddings (``auto``: where there is an
    encoder)."""
    return model.mode == "frozen" or (model.mode == "auto" and model.weights is not None)


def head_recipe(recipe: LearnerRecipe, data: EmbeddingData, head_width: float) -> LearnerRecipe:
    """The recipe of the head a frozen round trains on ``data``: the network's task, outputs
    and device, the LPM's hidden size; fp32 (the head is too small to gain from bf16)."""
    model = ModelSettings(
        name=HEAD_MODEL,
        width=head_width,
        lpm_hidden=recipe.model.lpm_hidden,
        embedding_layer=HEAD_INPUT_LAYER,
    )
    return replace(
        recipe,
        model=model,
        in_channels=data.embeddings.shape[1],
        example_input=data.inputs(np.arange(2)),
        precision="fp32",
    )


def head_training(train: TrainSettings) -> TrainSettings:
    """The head's training: the config's, without image augmentation (the embeddings are
    fixed) and without batch-norm syncing (the head has none)."""
    return replace(train, augment="none", sync_batchnorm=False)


@dataclass
class RoundInputs:
    """What the rounds of a run train and score on: the recipe, the pool and evaluation data
    (images, or cached embeddings in a frozen round), the training settings, and the
    encoder's embeddings of the pool where there is an encoder (for a typical first batch)."""

    recipe: LearnerRecipe
    pool: PoolData
    evaluation: PoolData | None
    train: TrainSettings
    embeddings: np.ndarray | None = None

    @property
    def mode(self) -> str:
        return "frozen" if isinstance(self.pool, EmbeddingData) else "finetune"


@dataclass(frozen=True)
class Images:
    """Decoded images and the key their embeddings are cached under."""

    data: PoolData
    key: str


def round_inputs(
    recipe: LearnerRecipe,
    train: TrainSettings,
    pool: Images,
    evaluation: Images | None,
    need_embeddings: bool,
    cache: Path,
    progress: bool = True,
) -> RoundInputs:
    """The inputs of ``recipe.model.mode``'s rounds: as given in a fine-tuned run (with the
    pool's embeddings when ``need_embeddings``), or, in a frozen one, the head's recipe and
    training on the cached embeddings of the pool and the evaluation set."""
    frozen = is_frozen(recipe.model)
    if not (frozen or need_embeddings):
        return RoundInputs(recipe, pool.data, evaluation and evaluation.data, train)
    embeddings = cached_embeddings(recipe, pool.data, pool.key, len(pool.data), cache, progress)
    if not frozen:
        return RoundInputs(recipe, pool.data, evaluation and evaluation.data, train, embeddings)
    pool_data = EmbeddingData.of_pool(embeddings)
    evaluation_data = None
    if evaluation is not None:
        evaluation_data = pool_data.with_embeddings(
            cached_embeddings(
                recipe, evaluation.data, evaluation.key, len(evaluation.data), cache, progress
            )
        )
    head = head_recipe(recipe, pool_data, recipe.model.head_width)
    return RoundInputs(head, pool_data, evaluation_data, head_training(train), embeddings)
