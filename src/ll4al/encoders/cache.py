"""Every pool image's embedding under an encoder, computed once and kept memory-mapped.

Why: a frozen round, a typical first batch and the embedding strategies all read the same
vectors; computing them means decoding and running every image through the encoder, which is
the slow part of a round. The file is keyed by the images (a digest of the decoded pixels
and their normalisation, ``ArrayDataset.content_digest``) and by the encoder (its weights'
bytes, architecture, layer, precision): a changed encoder or image set gives another key and
so another file, never a silently reused one.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ll4al.al.session import LearnerRecipe
from ll4al.config import ConfigError
from ll4al.distributed import world
from ll4al.files import atomic_path, file_checksum, write_json_atomic
from ll4al.models.learner import PoolData
from ll4al.models.networks import MODELS

#: Images per inference call, so the progress bar moves on a large pool.
_CHUNK = 4096
#: Bumped when the way embeddings are computed changes, so old files are not reused.
_VERSION = 1


def weights_checksum(path: str | Path) -> str:
    """sha256 of a checkpoint's bytes (an encoder retrained in place gets a new one)."""
    try:
        return file_checksum(Path(path).expanduser())
    except OSError as err:
        raise ConfigError(f"encoder weights {path}: {err.strerror or err}") from None


def encoder_key(recipe: LearnerRecipe, images_key: str, count: int) -> dict[str, Any]:
    """What an embedding file depends on; its name is this key's digest."""
    model = recipe.model
    if model.weights is None:
        raise ConfigError("an embedding cache needs an encoder: set model.weights")
    return {
        "version": _VERSION,
        "images": images_key,
        "count": count,
        "model": model.name,
        "width": model.width,
        "layer": model.embedding_layer or MODELS[model.name].embedding_layer,
        "weights": weights_checksum(model.weights),
        "precision": recipe.precision,
    }


def cached_embeddings(
    recipe: LearnerRecipe,
    data: PoolData,
    images_key: str,
    count: int,
    folder: str | Path,
    progress: bool = True,
) -> np.ndarray:
    """``[count, D]`` float32 embeddings of ``data`` under ``recipe``'s encoder (its
    ``model.weights``, pooled at its embedding layer), read memory-mapped from ``folder``
    when an earlier call computed them for the same key, else computed (sharded under
    torchrun) and stored."""
    key = encoder_key(recipe, images_key, count)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(folder) / f"embeddings-{digest}.npy"
    if path.exists():
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            if array.ndim == 2 and len(array) == count and array.dtype == np.float32:
                return array
            problem = f"shape {array.shape}, {array.dtype}"
        except (OSError, ValueError, EOFError) as err:
            problem = str(err)
        warnings.warn(
            f"embedding cache {path} is unreadable ({problem}); rebuilding it", stacklevel=2
        )
    if len(data) != count:
        raise ValueError(f"{len(data)} images but the key is for {count}")
    learner = recipe.build(with_lpm=False)
    chunks = np.array_split(np.arange(count), max(1, count // _CHUNK))
    bar = tqdm(chunks, desc="embedding the pool (once)", unit="chunk", disable=not progress)
    parts = [learner.infer(data, chunk, ["embedding"])["embedding"].float() for chunk in bar]
    array = torch.cat(parts).numpy()
    if not np.isfinite(array).all():
        raise ValueError("the encoder gave non-finite embeddings; check model.weights")
    if not world().is_main:  # under torchrun every rank has them all; rank 0 writes
        return array
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array, allow_pickle=False)
    write_json_atomic(path.with_suffix(".json"), key)  # what the file was made from
    return np.load(path, mmap_mode="r", allow_pickle=False)
