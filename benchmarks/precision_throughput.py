"""Training throughput of bf16 autocast + channels-last against fp32, measured in one run.

Why: ``precision: auto`` picks bf16 on CPUs with native bf16 units; this checks that the choice
pays. Synthetic CIFAR-sized data, CIFAR ResNet-18 (width from --width), the library's own
training loop with the LPM; repetitions alternate between the two settings and the median
of each is reported, so machine noise hits both alike.

    python benchmarks/precision_throughput.py --width 0.25 --reps 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from ll4al.data import CIFAR10_MEAN, CIFAR10_STD, ArrayDataset
from ll4al.loop import build_learner
from ll4al.models import MODELS, CifarResNet18
from ll4al.runtime import select_device
from ll4al.tasks import ClassificationTask
from ll4al.training import TrainSettings, train


def images_per_second(precision: str, data: ArrayDataset, width: float, device) -> float:
    torch.manual_seed(0)
    learner = build_learner(
        CifarResNet18(width=width),
        ClassificationTask(),
        device,
        precision,
        True,
        MODELS["cifar-resnet18"].lpm_layers,
        128,
        data.inputs(np.arange(2)),
        "flatten",
        512,
    )
    indices = np.arange(len(data))
    labels = data.targets.tolist()
    settings = TrainSettings(epochs=1)
    train(learner, data, indices[:256], labels[:256], settings, torch.Generator(), False)
    start = time.perf_counter()
    train(learner, data, indices, labels, settings, torch.Generator(), False)
    return len(indices) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = select_device(args.device)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.samples, 3, 32, 32), dtype=torch.uint8, generator=gen)
    data = ArrayDataset(images, np.arange(args.samples) % 10, CIFAR10_MEAN, CIFAR10_STD)
    rates: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(args.reps):
        for precision in rates:
            rates[precision].append(images_per_second(precision, data, args.width, device))
    fp32, bf16 = (statistics.median(rates[p]) for p in ("fp32", "bf16"))
    print(
        f"device {device}, ResNet-18 width {args.width}, {args.samples} images, "
        f"{args.reps} reps (median)"
    )
    print(f"{'setting':<22}{'img/s':>10}")
    print(f"{'fp32':<22}{fp32:>10.0f}")
    print(f"{'bf16 + channels-last':<22}{bf16:>10.0f}")
    print(f"ratio bf16 / fp32: {bf16 / fp32:.2f}")


if __name__ == "__main__":
    main()
