"""What Learning Loss and our training loop cost: four ratios measured in one run.

Why: the method's selling point is that the loss prediction module (LPM) is nearly free, in
training and at query time, and the library claims that its loop (bf16 autocast and
channels-last where the hardware runs them fast) beats a plain PyTorch loop and that scoring
a pool streams it in bounded memory. This script measures all four on synthetic CIFAR-sized
data (uint8 3x32x32, 10 classes) with CIFAR ResNet-18 (width from --width), precision
``auto``, on the device ``auto`` picks:

1. overhead   -- one training epoch (``ll4al.al.training.train``) with the LPM and ranking loss,
                 its gradient still reaching the target network, / one epoch without them.
2. query      -- ``strategy.query`` over a --subset candidate subset (--labeled labeled, for
                 core-set), for every strategy registered in ``ll4al.strategies.STRATEGIES``,
                 / one plain inference pass over the same subset, same batch size: the
                 baseline is ``learner.infer(..., ["probs"])`` on a learner without the LPM,
                 i.e. only the target network's forward pass (plus a softmax to the CPU).
                 Strategies that need the LPM query a learner with it; the same ``["probs"]``
                 pass on that learner (target network + LPM heads) is shown too. Targets:
                 learning-loss (one attached pass) and BALD (20 MC-dropout samples from one
                 pass of the network up to the embedding).
3. throughput -- images/s of our loop (with and without the LPM) / images/s of a plain fp32
                 PyTorch loop (forward, cross-entropy, zero_grad, backward, SGD step) on the same
                 model, data, batch size (128) and random crop+flip of each batch.
4. memory     -- peak RSS of the learning-loss query (K = --k) over a pool of --pool / 10 and of
                 --pool samples generated batch by batch from their indices (the pool is never
                 materialised), each in a fresh process, and the scoring rate. Growth that does
                 not scale with the pool is glibc's heap keeping freed batch buffers; what does
                 scale is O(N) index and score arrays (~40 bytes per sample).

Ratios 1-3 are medians of --reps repetitions that alternate between the settings compared,
so machine noise hits all of them alike. Memory runs once per pool size (peak RSS is
deterministic up to the allocator). Run from the repository root, e.g.

    python benchmarks/costs.py                      # everything, default sizes
    python benchmarks/costs.py --only query --reps 3
    python benchmarks/costs.py --reps 1 --samples 256 --subset 1000 --pool 20000  # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ll4al.al.session import LearnerRecipe
from ll4al.al.training import train
from ll4al.config import ExperimentConfig, ModelSettings, TrainSettings
from ll4al.data.arrays import ArrayDataset
from ll4al.data.builtin import CIFAR10_MEAN, CIFAR10_STD
from ll4al.models.learner import Learner, PoolData
from ll4al.models.networks import build_model
from ll4al.runtime import resolve_precision, select_device
from ll4al.strategies import (
    STRATEGIES,
    BaldStrategy,
    LearningLossStrategy,
    QueryStrategy,
    get_strategy,
)
from ll4al.tasks import ClassificationTask
from ll4al.tasks.classification import random_crop_flip

PARTS = ("overhead", "query", "throughput", "memory")
MODEL_NAME = "cifar-resnet18"
NUM_CLASSES = 10
TRAIN_BATCH = TrainSettings().batch_size  # 128, the paper's
WARMUP = 256  # samples trained before each timed epoch (oneDNN primitives, allocator)
OVERHEAD_TARGET = 1.05
QUERY_TARGETS = {LearningLossStrategy.name: 1.1, BaldStrategy.name: 2.0}  # / a plain pass
THROUGHPUT_TARGET = 1.8
_PIXEL_KEYS = np.arange(3 * 32 * 32, dtype=np.uint32) * np.uint32(0x9E3779B9)


# --- synthetic data -----------------------------------------------------------------------


def synthetic_images(indices: np.ndarray) -> torch.Tensor:
    """uint8 ``[len(indices), 3, 32, 32]`` images, each a fixed function of its index.

    Each index is hashed to a 32-bit seed (splitmix64), mixed with every pixel position
    (murmur3's finaliser): noise that is the same whatever batch an index comes in, so a pool
    of any size needs no storage, and cheap (~10 ms per 512 images) next to the network.
    """
    seed = np.asarray(indices, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    seed ^= seed >> np.uint64(30)
    seed *= np.uint64(0xBF58476D1CE4E5B9)
    seed ^= seed >> np.uint64(27)
    x = (seed >> np.uint64(32)).astype(np.uint32)[:, None] ^ _PIXEL_KEYS[None, :]
    x *= np.uint32(0x85EBCA6B)
    x ^= x >> np.uint32(13)
    x *= np.uint32(0xC2B2AE35)
    images = (x >> np.uint32(24)).astype(np.uint8)
    return torch.from_numpy(images).view(-1, 3, 32, 32)


def synthetic_labels(indices: np.ndarray) -> np.ndarray:
    return np.asarray(indices, dtype=np.int64) % NUM_CLASSES


def synthetic_dataset(size: int) -> ArrayDataset:
    """An in-memory data set of the first ``size`` synthetic samples, as training uses."""
    indices = np.arange(size)
    images = synthetic_images(indices)
    return ArrayDataset(images, synthetic_labels(indices), CIFAR10_MEAN, CIFAR10_STD)


class SyntheticPool:
    """A pool of ``size`` synthetic samples generated per batch from the indices asked for."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def inputs(self, indices: np.ndarray) -> torch.Tensor:
        batch = ArrayDataset(synthetic_images(indices), None, CIFAR10_MEAN, CIFAR10_STD)
        return batch.inputs(np.arange(len(batch)))


# --- shared helpers -----------------------------------------------------------------------


def make_learner(
    width: float, device: torch.device, precision: str, with_lpm: bool, data: PoolData
) -> Learner:
    """The learner the experiments build (``LearnerRecipe``), with their default sizes."""
    recipe = LearnerRecipe(
        ModelSettings(name=MODEL_NAME, width=width),
        ClassificationTask(),
        NUM_CLASSES,
        in_channels=3,
        example_input=data.inputs(np.arange(2)),
        device=device,
        precision=precision,
        eval_batch_size=ExperimentConfig().eval_batch_size,
    )
    return recipe.build(with_lpm)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def alternate(
    measures: dict[str, Callable[[], float]],
    reps: int,
    errors: dict[str, str] | None = None,
) -> dict[str, float]:
    """Median seconds of each measure over ``reps`` rounds that run every measure in turn.

    With ``errors`` given, a measure that raises is recorded there and dropped; otherwise the
    exception propagates.
    """
    seconds: dict[str, list[float]] = {name: [] for name in measures}
    for rep in range(reps):
        for name, measure in measures.items():
            if errors is not None and name in errors:
                continue
            try:
                seconds[name].append(measure())
            except Exception as err:
                if errors is None:
                    raise
                errors[name] = f"{type(err).__name__}: {err}"
                print(f"  {name} failed: {errors[name]}", file=sys.stderr)
        print(f"  rep {rep + 1}/{reps} done", file=sys.stderr, flush=True)
    return {name: statistics.median(values) for name, values in seconds.items() if values}


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    print(f"\n{title}")
    print(line(header))
    print("  ".join("-" * width for width in widths))
    for row in rows:
        print(line(row))


def verdict(ratio: float, target: float, at_most: bool) -> str:
    met = ratio <= target if at_most else ratio >= target
    return f"{'<=' if at_most else '>='} {target:g} {'ok' if met else 'MISSED'}"


def machine_summary(device: torch.device, precision: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines = [
        f"cpu:       {cpu} ({os.cpu_count()} logical cores)",
        f"torch:     {torch.__version__}, {torch.get_num_threads()} threads, python "
        f"{platform.python_version()}",
        f"device:    {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        f"precision: {precision} (auto)",
    ]
    return "\n".join(lines)


# --- training: LPM overhead and throughput ------------------------------------------------


def ll4al_epoch_seconds(
    precision: str, with_lpm: bool, data: ArrayDataset, width: float, device: torch.device
) -> float:
    """One epoch of the library's loop on a fresh model (seed 0), after a short warm-up."""
    torch.manual_seed(0)
    learner = make_learner(width, device, precision, with_lpm, data)
    indices = np.arange(len(data))
    labels = data.targets.tolist()
    settings = TrainSettings(epochs=1)  # epoch 0 < stop_gradient_epoch: LPM gradient flows
    train(learner, data, indices[:WARMUP], labels[:WARMUP], settings, torch.Generator(), False)
    generator = torch.Generator().manual_seed(0)
    return timed(lambda: train(learner, data, indices, labels, settings, generator, False), device)


def plain_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: ArrayDataset,
    count: int,
    generator: torch.Generator,
    device: torch.device,
) -> None:
    """The usual hand-written fp32 loop over the first ``count`` samples, crop+flip per batch."""
    model.train()
    order = torch.randperm(count, generator=generator).numpy()
    for start in range(0, count, TRAIN_BATCH):
        batch = order[start : start + TRAIN_BATCH]
        inputs = random_crop_flip(data.inputs(batch), generator=generator).to(device)
        targets = torch.as_tensor(data.targets[batch], device=device)
        loss = F.cross_entropy(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def plain_epoch_seconds(data: ArrayDataset, width: float, device: torch.device) -> float:
    """One epoch of the plain loop on the same fresh model (seed 0), after the same warm-up."""
    torch.manual_seed(0)
    model = build_model(MODEL_NAME, NUM_CLASSES, in_channels=3, width=width).to(device)
    s = TrainSettings()
    optimizer = torch.optim.SGD(
        model.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay
    )
    plain_epoch(model, optimizer, data, WARMUP, torch.Generator(), device)
    generator = torch.Generator().manual_seed(0)
    return timed(lambda: plain_epoch(model, optimizer, data, len(data), generator, device), device)


def ll4al_names(precision: str) -> tuple[str, str]:
    """Names of our loop's settings at ``precision``: without and with the LPM."""
    return f"ll4al {precision}, no LPM", f"ll4al {precision} + LPM"


def training_settings(parts: list[str], precision: str) -> dict[str, Callable[..., float]]:
    """The training settings the selected parts compare, by name."""
    fast, lpm = ll4al_names(precision)
    settings: dict[str, Callable[..., float]] = {}
    if "throughput" in parts:
        settings["plain PyTorch fp32"] = plain_epoch_seconds
        settings["ll4al fp32, no LPM"] = partial(ll4al_epoch_seconds, "fp32", False)
    settings[fast] = partial(ll4al_epoch_seconds, precision, False)
    settings[lpm] = partial(ll4al_epoch_seconds, precision, True)
    return settings


def training_parts(args: argparse.Namespace, device: torch.device, precision: str) -> None:
    parts = [p for p in ("overhead", "throughput") if p in args.only]
    data = synthetic_dataset(args.samples)
    settings = training_settings(parts, precision)
    print(f"\n[training] {', '.join(settings)}: {args.samples} images/epoch", file=sys.stderr)
    bound = {
        name: partial(fn, data=data, width=args.width, device=device)
        for name, fn in settings.items()
    }
    seconds = alternate(bound, args.reps)
    per_s = {name: args.samples / value for name, value in seconds.items()}
    fast, lpm = ll4al_names(precision)
    header = ["setting", "s/epoch", "img/s", "ratio", "target"]
    if "overhead" in parts:
        ratio = seconds[lpm] / seconds[fast]
        print_table(
            f"LPM training overhead: epoch time with / without the LPM and ranking loss "
            f"({args.samples} images, batch {TRAIN_BATCH}, median of {args.reps})",
            header,
            [
                [fast, f"{seconds[fast]:.2f}", f"{per_s[fast]:.0f}", "1.000", ""],
                [
                    lpm,
                    f"{seconds[lpm]:.2f}",
                    f"{per_s[lpm]:.0f}",
                    f"{ratio:.3f}",
                    verdict(ratio, OVERHEAD_TARGET, at_most=True),
                ],
            ],
        )
    if "throughput" in parts:
        plain = "plain PyTorch fp32"
        rows = []
        for name, value in seconds.items():
            ratio = seconds[plain] / value
            target = verdict(ratio, THROUGHPUT_TARGET, at_most=False) if name in (fast, lpm) else ""
            rows.append([name, f"{value:.2f}", f"{per_s[name]:.0f}", f"{ratio:.2f}", target])
        print_table(
            f"Training throughput / plain fp32 PyTorch loop ({args.samples} images, batch "
            f"{TRAIN_BATCH}, crop+flip, median of {args.reps})",
            header,
            rows,
        )
        if precision != "fp32":
            speed_up = seconds["ll4al fp32, no LPM"] / seconds[fast]
            print(f"speed-up of {precision} over fp32 in our loop (no LPM): {speed_up:.2f}")


# --- query cost ---------------------------------------------------------------------------


def strategy_label(strategy: QueryStrategy) -> str:
    """The name, with the strategy's own settings (e.g. BALD's number of samples) if any."""
    params = ", ".join(
        f"{k}={v}"
        for k, v in vars(strategy).items()
        if not k.startswith("_") and k != "last_query_info"  # settings, not the last query's
    )
    return f"{strategy.name} ({params})" if params else strategy.name


def query_part(args: argparse.Namespace, device: torch.device, precision: str) -> None:
    n_labeled, n_subset = args.labeled, args.subset
    data = synthetic_dataset(n_labeled + n_subset)
    labeled = np.arange(n_labeled)
    candidates = np.arange(n_labeled, n_labeled + n_subset)
    k = min(args.k, n_subset)
    labels = data.targets[labeled].tolist()
    strategies = {name: get_strategy(name) for name in STRATEGIES}
    print(
        f"\n[query] {', '.join(strategies)}: K={k} of {n_subset}, {n_labeled} labeled",
        file=sys.stderr,
    )
    learners: dict[bool, Learner] = {}  # by "with LPM": the same network, trained alike
    for with_lpm in (False, True):
        torch.manual_seed(0)  # one epoch on the labeled set gives realistic batch-norm stats
        learner = make_learner(args.width, device, precision, with_lpm, data)
        train(learner, data, labeled, labels, TrainSettings(epochs=1), torch.Generator(), False)
        learner.infer(data, candidates, ["probs"])  # warm-up for both batch shapes
        learners[with_lpm] = learner
    plain, with_heads = "inference pass (the unit)", "inference pass, LPM attached"
    measures: dict[str, Callable[[], float]] = {
        name: partial(timed, partial(learners[lpm].infer, data, candidates, ["probs"]), device)
        for name, lpm in ((plain, False), (with_heads, True))
    }
    for name, strategy in strategies.items():
        query = partial(
            strategy.query,
            learners[strategy.needs_loss_prediction],
            data,
            labeled,
            candidates,
            k,
            np.random.default_rng(0),
        )
        measures[name] = partial(timed, query, device)
    errors: dict[str, str] = {}
    seconds = alternate(measures, args.reps, errors)
    rows = [
        [name, f"{seconds[name]:.3f}", f"{seconds[name] / seconds[plain]:.2f}", ""]
        for name in (plain, with_heads)
    ]
    for name, strategy in strategies.items():
        label = strategy_label(strategy)
        if name in errors:
            rows.append([label, "error", "", errors[name][:60]])
            continue
        ratio = seconds[name] / seconds[plain]
        target = verdict(ratio, QUERY_TARGETS[name], at_most=True) if name in QUERY_TARGETS else ""
        rows.append([label, f"{seconds[name]:.3f}", f"{ratio:.2f}", target])
    print_table(
        f"Query cost / one inference pass of the target network (no LPM) over the same "
        f"{n_subset} candidates (K={k}, {n_labeled} labeled, eval batch "
        f"{ExperimentConfig().eval_batch_size}, median of {args.reps}); strategies that need "
        "the LPM query a learner with it attached",
        ["strategy", "seconds", "ratio", "target"],
        rows,
    )
    ll = LearningLossStrategy.name
    if ll in seconds:
        print(
            f"{ll} / inference pass with the LPM attached (its work beyond the forward pass): "
            f"{seconds[ll] / seconds[with_heads]:.2f}"
        )


# --- memory -------------------------------------------------------------------------------


def _status_mib(field: str) -> float:
    """A ``/proc/self/status`` memory field in MiB (Linux).

    ``ru_maxrss`` is no use in a child process: exec carries the parent's high-water mark over
    into it. ``VmHWM`` is the peak of this process's own address space.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_child(args: argparse.Namespace) -> None:
    """Score one pool in this (fresh) process and print the measurements as one JSON line."""
    size = args.memory_child
    device = select_device(args.device)
    precision = resolve_precision("auto", device)
    data = SyntheticPool(size)
    torch.manual_seed(0)
    learner = make_learner(args.width, device, precision, True, data)
    strategy = LearningLossStrategy()
    empty = np.empty(0, dtype=np.int64)
    warm = min(size, 2 * learner.batch_size)
    strategy.query(learner, data, empty, np.arange(warm), 1, np.random.default_rng(0))
    setup = _status_mib("VmHWM")
    k = min(args.k, size)

    def score() -> None:
        strategy.query(learner, data, empty, np.arange(size), k, np.random.default_rng(0))

    seconds = timed(score, device)
    result = {
        "pool": size,
        "k": k,
        "setup_mib": setup,
        "peak_mib": _status_mib("VmHWM"),
        "seconds": seconds,
    }
    if device.type == "cuda":
        result["cuda_peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    print(json.dumps(result))


def memory_part(args: argparse.Namespace, device: torch.device) -> None:
    sizes = [max(1, args.pool // 10), args.pool]
    results = []
    for size in sizes:
        print(f"\n[memory] scoring a pool of {size} in a fresh process", file=sys.stderr)
        command = [sys.executable, str(Path(__file__).resolve()), "--memory-child", str(size)]
        command += ["--width", str(args.width), "--device", str(device), "--k", str(args.k)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"memory measurement for pool {size} failed:\n{done.stderr}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    rows = []
    for r in results:
        growth = r["peak_mib"] - r["setup_mib"]
        row = [
            f"{r['pool']:,}",
            str(r["k"]),
            f"{r['setup_mib']:.0f}",
            f"{r['peak_mib']:.0f}",
            f"{growth:.1f}",
            f"{r['seconds']:.1f}",
            f"{r['pool'] / r['seconds']:.0f}",
        ]
        if "cuda_peak_mib" in r:
            row.append(f"{r['cuda_peak_mib']:.0f}")
        rows.append(row)
    header = ["pool", "K", "setup MiB", "peak MiB", "growth MiB", "s", "samples/s"]
    if "cuda_peak_mib" in results[0]:
        header.append("GPU peak MiB")
    small, large = results
    extra = (large["peak_mib"] - small["peak_mib"]) * 2**20 / (large["pool"] - small["pool"])
    print_table(
        "Memory of the learning-loss query over a pool generated batch by batch: peak RSS "
        "(VmHWM) of a fresh process; setup = after model build and warm-up",
        header,
        rows,
    )
    print(
        f"peak RSS ratio (pool {large['pool']:,} / {small['pool']:,}): "
        f"{large['peak_mib'] / small['peak_mib']:.3f}; "
        f"{extra:.1f} bytes per extra pool sample (a float32 score is 4)"
    )


# --- main ---------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--width", type=float, default=0.25, help="ResNet-18 width (0.25)")
    parser.add_argument("--reps", type=int, default=5, help="alternating repetitions (5)")
    parser.add_argument("--samples", type=int, default=2048, help="images per epoch (2048)")
    parser.add_argument("--subset", type=int, default=10_000, help="query candidates (10000)")
    parser.add_argument("--labeled", type=int, default=1000, help="labeled for queries (1000)")
    parser.add_argument("--k", type=int, default=1000, help="samples per query (1000)")
    parser.add_argument("--pool", type=int, default=10**6, help="largest pool scored (10^6)")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--only", action="append", choices=PARTS, help="run only this part (repeatable)"
    )
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.only = args.only or list(PARTS)
    if min(args.reps, args.samples, args.subset, args.k, args.pool) < 1 or args.labeled < 2:
        parser.error("sizes and --reps must be positive, --labeled at least 2")
    if args.samples < WARMUP:
        parser.error(f"--samples must be at least {WARMUP}")
    return args


def main() -> None:
    args = parse_args()
    if args.memory_child is not None:
        memory_child(args)
        return
    device = select_device(args.device)
    precision = resolve_precision("auto", device)
    print(machine_summary(device, precision))
    print(f"model:     CIFAR ResNet-18, width {args.width}; synthetic uint8 3x32x32 data")
    started = time.perf_counter()
    if "overhead" in args.only or "throughput" in args.only:
        training_parts(args, device, precision)
    if "query" in args.only:
        query_part(args, device, precision)
    if "memory" in args.only:
        memory_part(args, device)
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
