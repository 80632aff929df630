"""What ``active.spread`` does when the pool comes in groups, against no spread.

Why: a CT scan is tens of adjacent, nearly identical slices of one patient; a strategy that
finds one of them informative finds its neighbours informative too, and a batch of near copies
teaches what one of them would. Here scikit-learn's digits are made into synthetic "patients":
each a base digit and ``--slices`` near copies of it (shifted by up to a pixel, with noise),
like a scan's slices. The same strategy, seeds and settings run with batches taken as ranked
(``none``) and spread over patients (``patient``: ``ll4al.al.spread``, as ``ll4al query``
does); printed per round: labels, different patients in the batch just chosen, test accuracy
(on the digits' held-out test split, one image per digit), mean over seeds.

    python benchmarks/spread.py --patients 150 --slices 8 --k 40 --rounds 5 --seeds 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ll4al.al.pool import Pool
from ll4al.al.session import LearnerRecipe, Session
from ll4al.al.spread import CANDIDATES_PER_PLACE, spread
from ll4al.config import ModelSettings, TrainSettings
from ll4al.data.arrays import ArrayDataset
from ll4al.data.builtin import load_digits
from ll4al.strategies import get_strategy
from ll4al.tasks import ClassificationTask


def patients(count: int, slices: int, seed: int = 0) -> tuple[ArrayDataset, np.ndarray]:
    """``count`` patients of ``slices`` near copies of one training digit each; the pool and
    each sample's patient."""
    data = load_digits(seed=0)
    gen = torch.Generator().manual_seed(seed)
    bases = torch.randperm(len(data.train), generator=gen)[:count]
    images, targets, groups = [], [], []
    for patient, base in enumerate(bases.tolist()):
        image = data.train.images[base]
        for _ in range(slices):
            dy, dx = torch.randint(-1, 2, (2,), generator=gen).tolist()
            copy = torch.roll(image, (dy, dx), dims=(1, 2)) + 0.5 * torch.randn(
                image.shape, generator=gen
            )
            images.append(copy.clamp(0, 16))
            targets.append(int(data.train.targets[base]))
            groups.append(patient)
    x = torch.stack(images)
    pool = ArrayDataset(x, np.asarray(targets), (float(x.mean()),), (float(x.std()),), scale=1.0)
    return pool, np.asarray(groups)


def run(args, pool_data, groups, test, seed: int, level: str) -> list[tuple[int, int, float]]:
    """``(labels, different patients in the batch chosen then, test accuracy)`` per round."""
    recipe = LearnerRecipe(
        ModelSettings(name="small-cnn", width=args.width, lpm_hidden=16),
        ClassificationTask(),
        num_outputs=10,
        in_channels=1,
        example_input=pool_data.inputs(torch.arange(2)),
        device=torch.device("cpu"),
        precision="fp32",
        eval_batch_size=512,
    )
    train = TrainSettings(
        epochs=args.epochs,
        batch_size=32,
        lr=0.05,
        milestones=[],
        stop_gradient_epoch=args.epochs // 2,
        augment="none",
    )
    strategy = get_strategy(args.strategy)
    session = Session(recipe, pool_data, strategy, seed, train, progress=False)
    pool = Pool(len(pool_data))
    targets = pool_data.targets

    def take(batch) -> int:
        if level == "patient":
            batch.indices = spread(batch.indices, groups.tolist(), args.k)
        session.accept(pool, batch, targets[batch.indices].tolist())
        return len(set(groups[batch.indices].tolist()))

    wanted = args.k if level == "none" else args.k * CANDIDATES_PER_PLACE
    rows = []
    distinct = take(session.initial_batch(pool, wanted))
    for round_index in range(args.rounds):
        learner = session.fit(pool, round_index)
        accuracy = session.evaluate(learner, test, test.targets.tolist())["accuracy"]
        rows.append((len(pool.labeled), distinct, accuracy))
        if round_index + 1 < args.rounds:
            batch = session.propose(learner, pool, round_index, wanted, args.subset)
            distinct = take(batch)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=150)
    parser.add_argument("--slices", type=int, default=8)
    parser.add_argument("--k", type=int, default=40, help="batch size")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--subset", type=int, default=10000)
    parser.add_argument("--strategy", default="learning-loss")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--width", type=float, default=0.5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    pool_data, groups = patients(args.patients, args.slices)
    test = load_digits(seed=0).test
    results = {
        level: np.asarray(
            [run(args, pool_data, groups, test, seed, level) for seed in range(args.seeds)]
        )
        for level in ("none", "patient")
    }
    print(
        f"{args.patients} patients x {args.slices} slices, {args.strategy}, k {args.k}, "
        f"{args.seeds} seeds; test: {len(test)} digits"
    )
    print(f"{'spread':<8}{'round':>6}{'labels':>8}{'patients in batch':>19}{'accuracy':>16}")
    for level, values in results.items():  # [seeds, rounds, 3]
        for index in range(args.rounds):
            mean, sd = values[:, index].mean(0), values[:, index, 2].std()
            print(f"{level:<8}{index:>6}{mean[0]:>8.0f}{mean[1]:>19.1f}{mean[2]:>10.4f} ± {sd:.4f}")
    final = {level: values[:, -1, 2] for level, values in results.items()}
    gain = final["patient"] - final["none"]
    print(
        f"final accuracy, patient - none: {gain.mean():+.4f} (per seed: "
        + ", ".join(f"{g:+.4f}" for g in gain)
        + ")"
    )
    curve = {level: values[:, :, 2].mean() for level, values in results.items()}
    print(f"mean accuracy over rounds: none {curve['none']:.4f}, patient {curve['patient']:.4f}")
    print(f"total wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
