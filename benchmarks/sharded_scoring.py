"""Scoring a large pool with 1 and 2 processes under torchrun: the ratio of throughputs.

Why: a hospital archive of 10^6 images is scored every round; ``Learner.infer`` shards the
pool over torchrun's ranks in whole batches and gathers the scores in order. This script
scores a synthetic CIFAR-sized pool (``costs.py``'s, generated per batch from the indices)
with the learning-loss query's outputs (predicted loss, probabilities) on CIFAR ResNet-18
(``--width``), once with ``--nproc-per-node 1`` and once with 2, each rank single-threaded,
and prints images/s of each and their ratio. On a GPU machine (``--device cuda``) each rank
takes its own GPU. Run from the repository root:

    python benchmarks/sharded_scoring.py                  # 10^5 images
    python benchmarks/sharded_scoring.py --pool 2000      # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from costs import SyntheticPool, make_learner  # noqa: E402

from ll4al.distributed import (  # noqa: E402
    barrier,
    device_for,
    finish_distributed,
    init_distributed,
    world,
)
from ll4al.runtime import resolve_precision  # noqa: E402


def score(args: argparse.Namespace) -> None:
    """One rank's part: score the pool, time it on rank 0 between two barriers."""
    device = device_for(torch.device(args.device))
    init_distributed(device)
    current = world()
    precision = resolve_precision("auto", device)
    pool = SyntheticPool(args.pool)
    learner = make_learner(args.width, device, precision, True, pool)
    learner.infer(pool, np.arange(min(args.pool, 1024)), ["predicted_loss"])  # warm-up
    barrier(current)
    started = time.perf_counter()
    scores = learner.infer(pool, np.arange(args.pool), ["predicted_loss", "probs"])
    barrier(current)
    seconds = time.perf_counter() - started
    if current.is_main:
        assert len(scores["predicted_loss"]) == args.pool
        print(json.dumps({"ranks": current.size, "seconds": seconds, "precision": precision}))
    finish_distributed()  # leave together: no rank exits with gloo still connected


def launch(nproc: int, args: argparse.Namespace) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={nproc}",
        "--master-addr=127.0.0.1",
        f"--master-port={port}",
        __file__,
        "--rank-part",
        "--pool",
        str(args.pool),
        "--width",
        str(args.width),
        "--device",
        args.device,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"torchrun with {nproc} processes failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", type=int, default=100_000, help="synthetic pool size")
    parser.add_argument("--width", type=float, default=0.25, help="ResNet-18 width")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rank-part", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank_part:
        score(args)
        return
    started = time.perf_counter()
    one, two = launch(1, args), launch(2, args)
    print(f"pool {args.pool:,} on {args.device} ({one['precision']}), ResNet-18 x{args.width}")
    print(f"{'processes':>9} {'seconds':>8} {'images/s':>9}")
    for run in (one, two):
        print(f"{run['ranks']:>9} {run['seconds']:8.2f} {args.pool / run['seconds']:9.0f}")
    print(f"throughput ratio (2 processes / 1): {one['seconds'] / two['seconds']:.2f}")
    print(f"total wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
