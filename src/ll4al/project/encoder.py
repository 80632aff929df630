"""A project's own encoder: ``ll4al pretrain PROJECT`` learns from every image of the pool,
labels never read, and later rounds start from it (fine-tuned) or train a head on its cached
embeddings (frozen).

Layout of ``PROJECT/encoder/``: ``encoder.pt`` (the network without classifier head, as
``model.weights`` takes it), ``encoder.json`` (where it came from: settings, images, time,
device, loss), ``encoder.pt.resume`` while a pretraining runs (so a killed one resumes), and
``.lock``, held while it runs.
"""

from __future__ import annotations

import datetime
import json
import platform
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ll4al.files import file_lock, read_json, write_json_atomic

if TYPE_CHECKING:  # the pretraining job (torch) is imported only by the command that runs it
    from ll4al.experiments.pretrain import PretrainResult, PretrainSettings
    from ll4al.project.project import Project


def encoder_provenance(project: Project) -> dict[str, Any] | None:
    """What ``encoder.json`` says of the project's encoder (None: the project has none)."""
    path = project.encoder_path()
    if not path.is_file():
        return None
    info = path.with_suffix(".json")
    return read_json(info) if info.is_file() else {"source": "unknown"}


def pretrain_project(
    project: Project,
    settings: PretrainSettings,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> PretrainResult:
    """Self-supervised pretraining of the project's network (``model.name``, ``model.width``)
    on all of its registered images; writes ``encoder/encoder.pt`` and its provenance.
    Under torchrun rank 0 holds the lock and writes; every rank trains."""
    import torch

    from ll4al.distributed import world
    from ll4al.experiments.pretrain import PretrainTarget, pretrain_pool
    from ll4al.project.project import ProjectError

    s = project.settings
    if s.task != "classification":
        raise ProjectError(
            f"ll4al pretrain works on classification projects; {project.folder} is {s.task}"
        )
    out = project.encoder_path()
    out.parent.mkdir(parents=True, exist_ok=True)
    main = world().is_main  # the process group is up: the command joined it
    with file_lock(out.parent / ".lock", wait=False) if main else nullcontext(True) as obtained:
        if not obtained:
            raise ProjectError(f"another `ll4al pretrain` is working on {project.folder}")
        pool = project.pool_data(progress and main)
        target = PretrainTarget(s.model, pool, len(s.classes), s.channels, s.device, s.precision)
        started = datetime.datetime.now(datetime.timezone.utc)
        result = pretrain_pool(target, out, settings, progress, log)
        if not main:
            return result
        write_json_atomic(
            out.with_suffix(".json"),
            {
                "source": "ll4al pretrain",
                "model": s.model.name,
                "width": s.model.width,
                "image_size": s.image_size,
                "images": len(pool),
                "settings": asdict(settings),
                "final_loss": result.loss,
                "seconds": round(result.seconds, 1),
                "device": _device_name(s.device),
                "processes": world().size,
                "started": started.isoformat(timespec="seconds"),
                "torch": torch.__version__,
                "host": platform.node(),
            },
        )
    return result


def _device_name(device: str) -> str:
    import torch

    from ll4al.runtime import select_device

    chosen = select_device(device)
    if chosen.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(chosen)})"
    return f"cpu ({platform.processor() or platform.machine()})"


def describe_encoder(info: dict[str, Any] | None, pool_size: int | None = None) -> str:
    """One line for ``status``: which encoder the next round uses, and, where images were
    added to the pool since it was pretrained (``pool_size``), that it has not seen them."""
    if info is None:
        return "encoder: none (run `ll4al pretrain PROJECT` to learn one from the pool)"
    if info.get("source") != "ll4al pretrain":
        return f"encoder: {json.dumps(info)}"
    epochs = info["settings"]["epochs"]
    processes = info.get("processes", 1)  # encoders made before torchrun pretraining: one
    on = info["device"] if processes == 1 else f"{processes} processes, {info['device']} each"
    line = (
        f"encoder: pretrained on {info['images']} images, {epochs} epochs, "
        f"{info['seconds'] / 60:.0f} min on {on} ({info['started']})"
    )
    unseen = (pool_size or 0) - info["images"]
    if unseen > 0:
        line += (
            f"; {unseen} images were added since, which it has not learned from (`ll4al "
            "pretrain` again pretrains on the whole pool; until then rounds use it as it is)"
        )
    return line
