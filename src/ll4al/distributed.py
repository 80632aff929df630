"""Several processes, one job: ``torchrun`` support for training and for scoring a pool.

A no-op in a plain process: every helper here then behaves as the single process it is, so
the rest of ll4al calls them unconditionally. Under ``torchrun --nproc-per-node N`` (or
several nodes) ``init_distributed`` reads torchrun's environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``) and joins the process group: ``nccl`` on GPUs, ``gloo`` on CPUs.

Who does what: every rank trains on its shard of each batch (DDP) and scores its shard of the
pool; the scores are gathered in the original order on every rank; rank 0 alone selects what
to label (its picks are broadcast, so all ranks agree), writes state, results and reports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """This process's place in the job: rank ``rank`` of ``size`` (1 in a plain process)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that selects, writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(device: torch.device) -> World:
    """Join torchrun's process group (once); a plain process gets ``World()``.

    On GPUs each rank takes the device of its ``LOCAL_RANK``.
    """
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        return World()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend)
    return world()


def world() -> World:
    """The current job's ranks (``World()`` when no process group is up)."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def device_for(device: torch.device) -> torch.device:
    """``cuda`` means this rank's GPU under torchrun; anything else is used as given."""
    if device.type == "cuda" and device.index is None and launched_by_torchrun():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def shard_batches(indices: np.ndarray, batch_size: int, current: World) -> np.ndarray:
    """This rank's contiguous block of whole batches of ``indices`` (no padding).

    Whole batches, so each sample is scored in the very batch a single process would score it
    in: the results are bitwise those of one process, whatever the world size, and every
    index is scored exactly once even when the pool is not a multiple of the world size.
    """
    batches = -(-len(indices) // batch_size)
    first = batches * current.rank // current.size
    last = batches * (current.rank + 1) // current.size
    return indices[first * batch_size : last * batch_size]


def gather_in_order(part: T, current: World) -> list[T]:
    """Every rank's ``part``, in rank order, on every rank (``[part]`` in one process)."""
    if not current.distributed:
        return [part]
    parts: list[Any] = [None] * current.size
    dist.all_gather_object(parts, part)
    return parts


def broadcast(value: T, current: World, src: int = 0) -> T:
    """Rank ``src``'s ``value`` on every rank."""
    if not current.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier(current: World) -> None:
    if current.distributed:
        dist.barrier()


def finish_distributed() -> None:
    """Wait for every rank, then leave the process group (a no-op in a plain process).

    Why: a rank that returns first (rank 1, while rank 0 still writes files) and exits with
    gloo's threads still connected can die in C++'s ``terminate``; leaving together cannot.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def rank_pairs_shard(batch_size: int, current: World) -> np.ndarray | None:
    """Positions of a global training batch this rank trains on, or None if it is too small.

    The LPM's ranking loss pairs position ``i`` with ``B-1-i``; each rank takes whole pairs
    (``h = B / 2W`` from the front and their partners from the back, in order), so its local
    pairs are exactly the single process's, and the mean over ranks of the per-rank losses is
    the single process's loss. A batch of fewer than ``2W`` samples is skipped and up to
    ``2W - 1`` samples of an epoch's last batch go unused: the one difference to one process.
    """
    if not current.distributed:
        return np.arange(batch_size) if batch_size >= 2 else None
    h = batch_size // (2 * current.size)
    if h == 0:
        return None
    used = 2 * h * current.size
    front = np.arange(current.rank * h, (current.rank + 1) * h)
    back = used - 1 - front[::-1]
    return np.concatenate([front, back])


class _GatherWithGradient(torch.autograd.Function):
    """All ranks' equal-sized ``part``s, concatenated in rank order, with the gradient of the
    whole flowing back to each rank's own rows (summed over the ranks)."""

    @staticmethod
    def forward(ctx: Any, part: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(part) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, part.contiguous())
        ctx.rows = len(part)
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)  # every rank's loss depends on every rank's rows
        start = dist.get_rank() * ctx.rows
        return grad[start : start + ctx.rows]


def gather_with_gradient(part: torch.Tensor, current: World) -> torch.Tensor:
    """Every rank's ``part`` (the same number of rows on each), in rank order, differentiable.

    Why: a contrastive loss needs the whole batch's embeddings as negatives. Every rank computes
    the one loss of the whole batch; the backward pass sums the ranks' gradients of each
    rank's rows, so a rank's weights get ``size`` times its share of the whole batch's
    gradient, and DDP's mean over ranks gives exactly the gradient of the whole batch. In one
    process ``part`` itself. (Written out rather than ``torch.distributed.nn``'s gather,
    deprecated for a private module.)
    """
    if not current.distributed:
        return part
    return _GatherWithGradient.apply(part)
