"""Self-supervised pretraining of a config's network on its unlabeled pool (SimCLR).

Chen et al. (2020), "A Simple Framework for Contrastive Learning of Visual Representations":
two random views of each pool image (resized crop, flip, colour jitter, grayscale) go through
the network up to its embedding layer and a small projection head; the NT-Xent loss pulls the
two views of an image together and pushes the other images of the batch away. The pool's
images only, never its labels nor the test set. The checkpoint is the target network's
``state_dict`` without projection head and classifier head, for ``model.weights``.

NT-Xent is written out here (a dozen lines) rather than taken from ``lightly``, whose install
brings hydra-core, pytorch-lightning and aiohttp with it.
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from ll4al.config import ConfigError, ExperimentConfig, ModelSettings
from ll4al.data.arrays import ArrayDataset
from ll4al.data.registry import data_set, load_task_data
from ll4al.distributed import World, barrier, device_for, gather_with_gradient, init_distributed
from ll4al.files import atomic_path
from ll4al.models.features import capture_pooled, first_tensor, global_pool, resolve_layer
from ll4al.models.networks import MODELS, build_model, materialize
from ll4al.models.weights import backbone_state
from ll4al.runtime import autocast, resolve_precision, select_device
from ll4al.tasks import ClassificationTask


class PretrainError(RuntimeError):
    """Pretraining failed (a non-finite loss); nothing was written."""


@dataclass
class PretrainSettings:
    """SimCLR's CIFAR recipe as lightly's benchmarks run it: SGD (lr 0.06 at batch 256,
    momentum 0.9, wd 5e-4) with a cosine schedule, NT-Xent at temperature 0.5, a 2-layer
    projection head to 128 dimensions. ``lr`` is for a batch of 256 and scaled linearly with
    ``batch_size``. ``limit``: only N random pool images (smoke tests, speed measurements)."""

    epochs: int = 30
    batch_size: int = 256
    lr: float = 0.06
    momentum: float = 0.9
    weight_decay: float = 5e-4
    temperature: float = 0.5
    projection_dim: int = 128
    seed: int = 0
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ConfigError("pretrain needs epochs >= 1 and batch size >= 2")
        if self.limit is not None and self.limit < 2:
            raise ConfigError(f"--limit must be at least 2, got {self.limit}")


@dataclass
class PretrainResult:
    loss: float  # the last epoch's mean NT-Xent loss
    seconds: float
    images: int  # pool images per epoch (each seen as two views)
    epochs: int

    @property
    def images_per_second(self) -> float:
        return self.images * self.epochs / max(self.seconds, 1e-9)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """The NT-Xent loss of SimCLR: ``z1[i]`` and ``z2[i]`` (``[B, D]``) are two views of
    image ``i``. Each of the 2B views must pick out its partner among the other 2B - 1 by
    cosine similarity over ``temperature``; the mean cross-entropy over all 2B views."""
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    similarity = z @ z.T / temperature
    similarity.fill_diagonal_(float("-inf"))  # a view is not its own partner
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(similarity, partner)


def _gray(u: torch.Tensor) -> torch.Tensor:
    """Luma ``[B, 1, H, W]`` of images on [0, 1] (itself for one channel)."""
    if u.shape[1] != 3:
        return u.mean(dim=1, keepdim=True)
    weights = torch.tensor([0.299, 0.587, 0.114], device=u.device, dtype=u.dtype)
    return (u * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def _rotate_hue(u: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Shift the hue of RGB images by ``angle`` (radians, one per image): a rotation of the
    chroma plane of YIQ, a linear stand-in for the HSV round trip."""
    to_yiq = torch.tensor(
        [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
        device=u.device,
        dtype=u.dtype,
    )
    cos, sin = angle.cos(), angle.sin()
    one, zero = torch.ones_like(cos), torch.zeros_like(cos)
    rotation = torch.stack(
        [
            torch.stack([one, zero, zero], 1),
            torch.stack([zero, cos, -sin], 1),
            torch.stack([zero, sin, cos], 1),
        ],
        1,
    )  # [B, 3, 3]
    matrix = torch.linalg.inv(to_yiq) @ rotation @ to_yiq
    return torch.einsum("bij,bjhw->bihw", matrix, u)


def simclr_view(
    batch: torch.Tensor,
    generator: torch.Generator,
    low: torch.Tensor,
    high: torch.Tensor,
    min_area: float = 0.2,
    jitter: float = 0.4,
) -> torch.Tensor:
    """One random SimCLR view of each image of a normalised batch ``[B, C, H, W]`` at once.

    Per image: a random resized crop (area ``min_area``-1 of the image, aspect 3/4-4/3,
    bilinear back to H x W) and horizontal flip as one affine resampling; with p = 0.8 colour
    jitter (brightness, contrast, saturation by factors in 1 +- ``jitter``, hue by up to
    +-0.1 of a turn; in this order); with p = 0.2 grayscale. Colour is worked on [0, 1], where
    ``low`` and ``high`` (``[1, C, 1, 1]``, in normalised units) are black and white.
    """
    b, c, h, w = batch.shape
    device = batch.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(b, generator=generator)).to(device)

    def chance(p: float) -> torch.Tensor:
        return (torch.rand(b, generator=generator) < p).to(device)

    area = uniform(min_area, 1.0)
    ratio = uniform(math.log(3 / 4), math.log(4 / 3)).exp()
    width, height = (area * ratio).sqrt().clamp(max=1.0), (area / ratio).sqrt().clamp(max=1.0)
    flip = torch.where(chance(0.5), -1.0, 1.0)
    theta = torch.zeros(b, 2, 3, device=device)
    theta[:, 0, 0] = width * flip
    theta[:, 0, 2] = (1 - width) * uniform(-1.0, 1.0)
    theta[:, 1, 1] = height
    theta[:, 1, 2] = (1 - height) * uniform(-1.0, 1.0)
    grid = F.affine_grid(theta, [b, c, h, w], align_corners=False)
    x = F.grid_sample(batch, grid, mode="bilinear", padding_mode="border", align_corners=False)

    span = (high - low).clamp(min=1e-6)
    u = ((x - low) / span).clamp(0, 1)
    jittered = chance(0.8)

    def factor(lo: float, hi: float) -> torch.Tensor:  # 1 (no change) where not jittered
        return torch.where(jittered, uniform(lo, hi), 1.0).view(b, 1, 1, 1)

    u = (u * factor(1 - jitter, 1 + jitter)).clamp(0, 1)  # brightness
    mean = _gray(u).mean(dim=(2, 3), keepdim=True)
    u = ((u - mean) * factor(1 - jitter, 1 + jitter) + mean).clamp(0, 1)  # contrast
    if c == 3:
        gray = _gray(u)
        u = ((u - gray) * factor(1 - jitter, 1 + jitter) + gray).clamp(0, 1)  # saturation
        hue = torch.where(jittered, uniform(-0.1, 0.1), 0.0)
        u = _rotate_hue(u, 2 * math.pi * hue).clamp(0, 1)
        u = torch.where(chance(0.2).view(b, 1, 1, 1), _gray(u).expand_as(u), u)
    return u * span + low


class Contrastive(nn.Module):
    """The target network up to its embedding layer (read by a forward hook, gradients kept)
    and a projection head: Linear, ReLU, Linear to ``dim``."""

    def __init__(self, network: nn.Module, layer: str, width: int, dim: int = 128) -> None:
        super().__init__()
        self.network = network
        self.head = nn.Sequential(
            nn.Linear(width, width), nn.ReLU(inplace=True), nn.Linear(width, dim)
        )
        self._captured: list[torch.Tensor] = []
        resolve_layer(network, layer).register_forward_hook(
            lambda _m, _i, output: self._captured.append(global_pool(first_tensor(output, layer)))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._captured.clear()
        self.network(x)  # the classifier head's output is not used
        return self.head(self._captured[-1])


def _pixel_range(data, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel minimum and maximum over the pool, in normalised units: black and white."""
    lows, highs = [], []
    for start in range(0, len(data), chunk):
        x = data.inputs(np.arange(start, min(len(data), start + chunk)))
        lows.append(x.amin(dim=(0, 2, 3)))
        highs.append(x.amax(dim=(0, 2, 3)))
    low, high = torch.stack(lows).amin(0), torch.stack(highs).amax(0)
    return low.view(1, -1, 1, 1), high.view(1, -1, 1, 1)


def pretrain(
    config: ExperimentConfig,
    out: str | Path,
    settings: PretrainSettings,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> PretrainResult:
    """Pretrain ``config``'s network on its pool images and write the checkpoint to ``out``
    atomically. ``config.model.weights`` is not read: pretraining starts from random weights.
    After each epoch the whole state is saved beside ``out`` (``resume_path``), so a killed
    run started again with the same settings goes on from its last finished epoch.
    """
    if not isinstance(data_set(config.data.name).task(), ClassificationTask):
        raise ConfigError(
            f"ll4al pretrain works on classification data sets; {config.data.name!r} is not one"
        )
    check_pretrainable(config.model)
    data = load_task_data(config.data, progress)
    target = PretrainTarget(
        config.model,
        data.train,
        data.num_outputs,
        data.in_channels,
        config.device,
        config.precision,
    )
    return pretrain_pool(target, out, settings, progress, log)


@dataclass
class PretrainTarget:
    """The network to pretrain (``model``: name, width, embedding layer) and the pool images
    it learns from, with where it runs."""

    model: ModelSettings
    pool: ArrayDataset
    num_outputs: int
    in_channels: int
    device: str = "auto"
    precision: str = "auto"


def check_pretrainable(model: ModelSettings) -> None:
    if model.name not in MODELS:
        raise ConfigError(f"unknown model {model.name!r}; choose from {sorted(MODELS)}")


def pretrain_pool(
    target: PretrainTarget,
    out: str | Path,
    settings: PretrainSettings,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> PretrainResult:
    """``pretrain`` on any pool of images: a benchmark's, or a labeling project's.

    Under torchrun every rank draws the same order and views of each batch and trains on its
    equal share of them; the loss is the whole batch's (``gather_with_gradient``), so the
    gradient is one process's on the whole batch, up to batch norm, whose statistics are each
    rank's own on CPUs (synchronised across GPUs). Rank 0 alone logs and writes.
    """
    check_pretrainable(target.model)
    device = device_for(select_device(target.device))
    current = init_distributed(device)
    if not current.is_main:
        log, progress = (lambda _line: None), False
    precision = resolve_precision(target.precision, device)
    pool, model_settings = target.pool, target.model
    torch.manual_seed(settings.seed)  # the network's and the head's initial weights
    generator = torch.Generator().manual_seed(settings.seed)  # the order and the views
    indices = torch.arange(len(pool))
    if settings.limit is not None and settings.limit < len(pool):  # a random subset
        indices = torch.randperm(len(pool), generator=generator)[: settings.limit].sort().values
    count = len(indices)
    example = pool.inputs(np.arange(2))
    network = build_model(
        model_settings.name, target.num_outputs, target.in_channels, model_settings.width
    )
    materialize(network, example)
    layer = model_settings.embedding_layer or MODELS[model_settings.name].embedding_layer
    try:
        width = _embedding_width(network, layer, example)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"model {model_settings.name!r}: {err}") from None
    if current.distributed and device.type == "cuda":
        network = nn.SyncBatchNorm.convert_sync_batchnorm(network)
    model = Contrastive(network, layer, width, settings.projection_dim).to(device)
    channels_last = precision == "bf16"
    if channels_last:
        model.to(memory_format=torch.channels_last)
    low, high = (t.to(device) for t in _pixel_range(pool))

    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=settings.lr * settings.batch_size / 256,
        momentum=settings.momentum,
        weight_decay=settings.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.epochs)
    resume = resume_path(out)
    first_epoch, loss, spent = _resume(resume, settings, model, optimizer, scheduler, generator)
    if first_epoch:
        log(f"resuming from {resume} after epoch {first_epoch}/{settings.epochs}")
    trained: nn.Module = model
    if current.distributed:  # the classifier head's output is unused: no gradient there
        ids = [device.index] if device.type == "cuda" else None
        trained = DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
    model.train()
    started = time.perf_counter() - spent
    for epoch in range(first_epoch, settings.epochs):
        order = indices[torch.randperm(count, generator=generator)].numpy()
        starts = [
            s
            for s in range(0, count, settings.batch_size)
            if _rows_per_rank(min(settings.batch_size, count - s), current)
        ]
        bar = tqdm(
            starts,
            desc=f"epoch {epoch + 1}/{settings.epochs}",
            unit="batch",
            leave=False,
            disable=not progress,
        )
        total, seen, epoch_started = 0.0, 0, time.perf_counter()
        for start in bar:
            images = pool.inputs(order[start : start + settings.batch_size]).to(device)
            rows = _rows_per_rank(len(images), current)
            mine = slice(current.rank * rows, (current.rank + 1) * rows)
            first, second = (simclr_view(images, generator, low, high) for _ in range(2))
            views = torch.cat([first[mine], second[mine]])
            if channels_last:
                views = views.contiguous(memory_format=torch.channels_last)
            with autocast(device, precision):
                z = trained(views)
            value = nt_xent(
                gather_with_gradient(z[:rows], current),
                gather_with_gradient(z[rows:], current),
                settings.temperature,
            )
            if not math.isfinite(float(value.detach())):
                raise PretrainError(
                    f"non-finite pretraining loss at epoch {epoch + 1}; lower --lr (now "
                    f"{settings.lr}); nothing was written"
                )
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            total += float(value.detach()) * rows * current.size
            seen += rows * current.size
            bar.set_postfix(loss=f"{total / seen:.3f}")
        scheduler.step()
        loss = total / max(seen, 1)
        seconds = time.perf_counter() - epoch_started
        log(
            f"epoch {epoch + 1}/{settings.epochs}: NT-Xent {loss:.4f} "
            f"({seconds:.1f}s, {seen / max(seconds, 1e-9):.0f} images/s)"
        )
        if epoch + 1 < settings.epochs and current.is_main:  # the last is the checkpoint
            state = {
                "settings": asdict(settings),
                "epoch": epoch + 1,
                "loss": loss,
                "seconds": time.perf_counter() - started,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "generator": generator.get_state(),
            }
            with atomic_path(resume) as tmp:
                torch.save(state, tmp)
    elapsed = time.perf_counter() - started
    network.to(memory_format=torch.contiguous_format)
    if current.is_main:
        with atomic_path(out) as tmp:
            torch.save(backbone_state(network), tmp)
        resume.unlink(missing_ok=True)
    barrier(current)  # the checkpoint exists before any rank goes on
    return PretrainResult(loss, elapsed, count, settings.epochs)


def _rows_per_rank(images: int, current: World) -> int:
    """How many of a batch's ``images`` each rank trains on: an equal share (the last
    ``images mod size`` go unused), or 0 when the whole batch would hold fewer than two (no
    negatives for NT-Xent)."""
    rows = images // current.size
    return rows if rows * current.size >= 2 else 0


def resume_path(out: str | Path) -> Path:
    """Where ``pretrain`` keeps its state after each epoch, beside the checkpoint ``out``;
    removed once the checkpoint is written."""
    out = Path(out)
    return out.with_name(out.name + ".resume")


def _resume(
    path: Path,
    settings: PretrainSettings,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
) -> tuple[int, float, float]:
    """Restore a killed run's state from ``path``: (epochs done, last loss, seconds spent).
    A state made with other settings is refused rather than mixed into this run."""
    if not path.exists():
        return 0, float("nan"), 0.0
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        saved = state["settings"]
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, TypeError) as err:
        raise ConfigError(f"{path} is not a pretraining state ({err}); remove it") from None
    if saved != asdict(settings):
        changed = sorted(
            k
            for k in saved.keys() | asdict(settings).keys()
            if saved.get(k) != asdict(settings).get(k)
        )
        raise ConfigError(
            f"{path} holds a pretraining run with other settings ({', '.join(changed)}); "
            "run again with the same settings to resume it, or remove it to start over"
        )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
    return int(state["epoch"]), float(state["loss"]), float(state["seconds"])


def _embedding_width(network: nn.Module, layer: str, example: torch.Tensor) -> int:
    """The size of the pooled embedding ``layer`` gives (one eval-mode pass, no gradients)."""
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad(), capture_pooled(network, layer) as captured:
            network(example)
    finally:
        network.train(was_training)
    return captured[-1].shape[1]
