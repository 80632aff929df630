"""The first round a labeling project trains: the current defaults, a grid of schedules and
the label-count rule (``ll4al.al.fit_rule``), at the few labels a project starts with.

Why: a project's first models choose its next batches and draw the curve on its status page;
they must be trained for the labels there are, not for a thousands-of-labels protocol. Each
run trains the project's network (its ``TASK_DEFAULTS``) from scratch on ``n`` random pool
labels and is scored on a validation split of the pool (to choose the rule) and on the test
set (to report it). Resumable: rows go to ``OUT/results.jsonl`` one per run, and a run already
there is not trained again. ``--table`` prints the tables of a finished (or partial) run.

    python benchmarks/first_rounds.py --data digits cifar10 --out benchmarks/results/first-rounds
    python benchmarks/first_rounds.py --data bccd --budgets 5 10 25 --seeds 0 1 2 \\
        --out benchmarks/results/first-rounds
    python benchmarks/first_rounds.py --table --out benchmarks/results/first-rounds
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ll4al.al.fit_rule import RULES, LabelRule, training_record
from ll4al.al.session import LearnerRecipe
from ll4al.al.training import evaluate, train
from ll4al.config import DataSettings, ModelSettings, TrainSettings, build_settings
from ll4al.data.arrays import ArrayDataset, TaskData, hold_out
from ll4al.data.registry import data_set
from ll4al.project.commands import TASK_DEFAULTS
from ll4al.runtime import resolve_precision
from ll4al.tasks.labels import BoxLabels

#: data set -> (task, pool samples held out for validation, test samples scored at most)
DATA = {
    "digits": ("classification", 300, 10_000),
    "cifar10": ("classification", 2000, 2000),
    "bccd": ("detection", 60, 10_000),
}
#: A project stores classification images at 32x32 (``TASK_DEFAULTS``): digits' 8x8 grow to it.
PROJECT_SIZE = {"classification": 32}

Schedule = Callable[[TrainSettings, int], TrainSettings]


def _rule(share: float, min_batch: int, steps: int) -> Schedule:
    return LabelRule(batch_share=share, min_batch=min_batch, min_steps=steps).apply


#: per task: the schedules tried; ``defaults`` is what a project trained with before the rule.
GRID: dict[str, dict[str, Schedule]] = {
    "classification": {
        "defaults": lambda base, n: base,
        "b32-e20": lambda base, n: dataclasses.replace(
            base, batch_size=32, epochs=20, milestones=[16]
        ),
        "q4-s200": _rule(0.25, 4, 200),
        "q4-s500": _rule(0.25, 4, 500),
        "q4-s1000": _rule(0.25, 4, 1000),
    },
    "detection": {
        "defaults": lambda base, n: base,
        "q4-s200": _rule(0.25, 2, 200),
        "q4-s500": _rule(0.25, 2, 500),
    },
}


def base_settings(task: str) -> tuple[ModelSettings, TrainSettings]:
    """A new project's network and training settings for ``task``."""
    defaults = TASK_DEFAULTS[task]
    model = build_settings(ModelSettings, defaults["model"], "model")
    return model, build_settings(TrainSettings, defaults["train"], "train")


def run(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    done = {_key(row) for row in _rows(results)}
    torch.set_num_threads(1)
    device = torch.device("cpu")
    precision = resolve_precision("auto", device)
    for name in args.data:
        task_name, validation, test_count = DATA[name]
        data = _at_size(data_set(name).load(DataSettings(name=name), False), task_name)
        split = hold_out(data, validation, seed=100)  # the pool and its validation split
        pool, val = split.train, split.test
        test_rows = np.random.default_rng(0).permutation(len(data.test))[:test_count]
        test = data.test.subset(np.sort(test_rows))
        model, base = base_settings(task_name)
        model = dataclasses.replace(model, width=args.width or model.width)
        task = data_set(name).task()
        grid = {k: v for k, v in GRID[task_name].items() if not args.only or k in args.only}
        recipe = LearnerRecipe(
            model,
            task,
            data.num_outputs,
            data.in_channels,
            pool.inputs(torch.arange(2)),
            device,
            precision,
            eval_batch_size=64 if task_name == "detection" else 512,
        )
        for seed in args.seeds:
            for n in args.budgets:
                labeled = np.random.default_rng(seed).permutation(len(pool))[:n]
                labels = list(pool.targets[labeled])
                for schedule, make in grid.items():
                    row = {"data": name, "labels": n, "seed": seed, "schedule": schedule}
                    if _key(row) in done:
                        continue
                    settings = make(base, n)
                    torch.manual_seed(seed)
                    learner = recipe.build(with_lpm=False)
                    started = time.perf_counter()
                    train(
                        learner,
                        pool,
                        labeled,
                        labels,
                        settings,
                        torch.Generator().manual_seed(seed),
                        progress=False,
                    )
                    row["train_seconds"] = round(time.perf_counter() - started, 1)
                    row["training"] = training_record(settings, n)
                    metric = task.metric_name
                    row["val"] = evaluate(learner, val, np.arange(len(val)), val.targets)[metric]
                    row["test"] = evaluate(learner, test, np.arange(len(test)), test.targets)[
                        metric
                    ]
                    if task_name == "detection":
                        row["val_with_boxes"] = _share_with_boxes(learner, val)
                    row["precision"] = precision
                    with results.open("a") as handle:
                        handle.write(json.dumps(row) + "\n")
                    print(
                        f"{name} n={n} seed={seed} {schedule}: val {row['val']:.4f} "
                        f"test {row['test']:.4f} ({row['train_seconds']}s)",
                        flush=True,
                    )


def _at_size(data: TaskData, task: str) -> TaskData:
    """The images resized as a project of ``task`` stores them (bilinear), if they differ."""
    size = PROJECT_SIZE.get(task)
    if size is None or data.train.images.shape[-1] == size:
        return data

    def resized(part: ArrayDataset) -> ArrayDataset:
        images = F.interpolate(part.images.float(), size=(size, size), mode="bilinear")
        return part.with_images(images, part.targets, part.groups)

    return dataclasses.replace(data, train=resized(data.train), test=resized(data.test))


def _share_with_boxes(learner, data) -> float:
    """The share of images on which the model proposes a box an annotator is shown (the
    labeling page's guess: score at least ``BoxLabels.min_score``)."""
    min_score = BoxLabels([]).min_score
    guesses = learner.predict(data, np.arange(len(data)))
    return float(np.mean([any(s >= min_score for s in g["scores"]) for g in guesses]))


def _key(row: dict) -> tuple:
    return row["data"], row["labels"], row["seed"], row["schedule"]


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def table(out: Path) -> None:
    """Markdown tables, per split and task: mean ± std (points, over the seeds run) of every
    schedule per data set and budget, the rule (``RULES``) against the defaults and the grid's
    best; a cell with fewer seeds than the row says how many; detection also gives the share
    of validation images with a proposed box."""
    rows = _rows(out / "results.jsonl")
    cells: dict[tuple, list[float]] = defaultdict(list)
    boxes: dict[tuple, list[float]] = defaultdict(list)
    for row in rows:
        key = row["data"], row["labels"], row["schedule"]
        for split in ("val", "test"):
            cells[(split, *key)].append(100 * row[split])
        if "val_with_boxes" in row:
            boxes[key].append(100 * row["val_with_boxes"])
    for split in ("val", "test"):
        for task, grid in GRID.items():
            rule = next(k for k, v in grid.items() if _is_rule(v, RULES[task]))
            budgets = sorted(
                {(d, n) for (s, d, n, _) in cells if s == split and DATA[d][0] == task}
            )
            if not budgets:
                continue
            names = [f"{k} (rule)" if k == rule else k for k in grid]
            print(f"\n{task}, {split}\n")
            print(
                "| data | labels | seeds | "
                + " | ".join(names)
                + " | rule - defaults | rule - best |"
            )
            print("|" + " --- |" * (len(grid) + 5))
            for name, n in budgets:
                runs = {k: cells[split, name, n, k] for k in grid if cells.get((split, name, n, k))}
                seeds = max(len(v) for v in runs.values())
                line = [name, str(n), str(seeds)]
                for k in grid:
                    values = runs.get(k)
                    cell = "" if not values else f"{np.mean(values):.1f} ± {np.std(values):.1f}"
                    if values and len(values) < seeds:
                        cell += f" ({len(values)})"
                    if values and boxes.get((name, n, k)) and split == "val":
                        cell += f", boxes {np.mean(boxes[name, n, k]):.0f}%"
                    line.append(cell)
                mean = {k: float(np.mean(v)) for k, v in runs.items()}
                best = max(mean.values())
                for other in (mean.get("defaults"), best):
                    line.append(
                        "" if rule not in mean or other is None else f"{mean[rule] - other:+.1f}"
                    )
                print("| " + " | ".join(line) + " |")


def _is_rule(schedule: Schedule, rule: LabelRule) -> bool:
    """Whether ``schedule`` trains as ``rule`` does (checked on a few label counts)."""
    base = TrainSettings(epochs=30, milestones=[24])
    return all(schedule(base, n) == rule.apply(base, n) for n in (5, 10, 20, 50, 100, 1000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits", "cifar10"], choices=DATA)
    parser.add_argument("--budgets", nargs="+", type=int, default=[20, 50, 100])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--only", nargs="+", help="these schedules of the grid only")
    parser.add_argument("--width", type=float, help="network width (default: the project's)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/first-rounds"))
    parser.add_argument("--table", action="store_true", help="print the tables and exit")
    args = parser.parse_args()
    if not args.table:
        run(args)
    table(args.out)


if __name__ == "__main__":
    main()
