"""Training throughput: bf16 + channels-last against fp32, and the LPM's overhead, in one run.

Why: ``precision: auto`` picks bf16 on CPUs with native bf16 units, and the loss prediction
module must cost little on top of the target network; this measures both. Synthetic
CIFAR-sized data, CIFAR ResNet-18 (width from --width), the library's own training loop.
Repetitions alternate between the settings and the median of each is reported, so machine
noise hits all of them alike.

    python benchmarks/training_throughput.py --width 0.25 --reps 5
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

SETTINGS = {  # name: (precision, with LPM)
    "fp32, no LPM": ("fp32", False),
    "bf16, no LPM": ("bf16", False),
    "bf16 + LPM": ("bf16", True),
}


def images_per_second(
    precision: str, with_lpm: bool, data: ArrayDataset, width: float, device: torch.device
) -> float:
    torch.manual_seed(0)
    learner = build_learner(
        CifarResNet18(width=width),
        ClassificationTask(),
        device,
        precision,
        with_lpm,
        MODELS["cifar-resnet18"].lpm_layers,
        128,
        data.inputs(np.arange(2)),
        "flatten",
        512,
    )
    indices = np.arange(len(data))
    labels = data.targets.tolist()
    settings = TrainSettings(epochs=1)  # the LPM's gradient reaches the target (epoch < 120)
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
    rates: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for _ in range(args.reps):
        for name, (precision, with_lpm) in SETTINGS.items():
            rates[name].append(images_per_second(precision, with_lpm, data, args.width, device))
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"device {device}, ResNet-18 width {args.width}, {args.samples} images per epoch, "
        f"{args.reps} alternating reps (median)"
    )
    print(f"{'setting':<16}{'img/s':>8}")
    for name, value in median.items():
        print(f"{name:<16}{value:>8.0f}")
    speed_up = median["bf16, no LPM"] / median["fp32, no LPM"]
    overhead = median["bf16, no LPM"] / median["bf16 + LPM"]
    print(f"bf16 speed-up (bf16 / fp32, no LPM):          {speed_up:.2f}")
    print(f"LPM overhead (epoch time with / without LPM): {overhead:.3f}")


if __name__ == "__main__":
    main()
