"""What adding images to a project costs the next round: decoding only the new ones.

Why: decoding is the slow part of reading a pool (a 16-bit X-ray is mapped to 8 bits and
resized, tens of milliseconds a file), and a team adds images to a project as they arrive.
The decoded-image cache reuses the rows of unchanged files (``decode_images``), so the round
after ``ll4al add`` decodes the added images only. Writes N 16-bit grayscale PNGs (noise, like
a high-bit X-ray) and times, in one run: decoding them all into an empty cache; decoding
again after adding 1 % more (incremental); and decoding the grown set into another empty
cache, which is what every added image cost before. Prints the ratio of the last two.

    python benchmarks/added_images.py --images 2000 --side 512
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

TARGET_RATIO = 0.1


def write_images(root: Path, names: list[str], side: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        pixels = rng.integers(0, 4096, (side, side), dtype=np.uint16)  # 12 bits in 16
        Image.fromarray(pixels).save(root / name)


def timed_decode(
    cache: Path, root: Path, names: list[str], size: int
) -> tuple[float, torch.Tensor]:
    from ll4al.data.imagefolder import decode_images

    os.environ["LL4AL_CACHE"] = str(cache)
    started = time.perf_counter()
    images = decode_images(root, names, size, channels=1, progress=False)
    return time.perf_counter() - started, images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000, help="images before the addition")
    parser.add_argument("--side", type=int, default=512, help="image side in pixels")
    parser.add_argument("--image-size", type=int, default=32, help="the project's image size")
    args = parser.parse_args()
    added = max(1, args.images // 100)
    names = [f"{n:06d}.png" for n in range(args.images + added)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        root = folder / "xrays"
        write_images(root, names[: args.images], args.side, seed=0)
        first, _ = timed_decode(folder / "cache", root, names[: args.images], args.image_size)
        write_images(root, names[args.images :], args.side, seed=1)
        incremental, grown = timed_decode(folder / "cache", root, names, args.image_size)
        whole, fresh = timed_decode(folder / "empty", root, names, args.image_size)
    assert torch.equal(grown, fresh), "the incremental decode differs from a whole one"
    ratio = incremental / whole
    verdict = "ok" if ratio <= TARGET_RATIO else "MISSED"
    print(f"images: {args.images} + {added} added ({args.side}x{args.side}, 16-bit)")
    print(f"decoding {args.images} into an empty cache: {first:.2f} s")
    print(f"after adding {added}, incremental: {incremental:.2f} s")
    print(f"after adding {added}, all decoded again (before): {whole:.2f} s")
    print(f"incremental / all again: {ratio:.3f} <= {TARGET_RATIO} {verdict}")
    print("identical pixels: yes")


if __name__ == "__main__":
    main()
