"""Benchmark the shard-dataset stage against Python's tarfile, and its memory as data grows.

Makes studio-like 256x256 RGB PNGs in a temp folder, then in the same run:

* baseline: the same files written into one tar with ``tarfile`` (no decoding);
* ours: ``shard_dataset("image-folder", ...)`` with normalisation off (pass-through after an
  integrity check), in this process and with a process pool; and with a resize, for scale;
* peak RSS of a fresh process sharding 1k and 10k images (``--quick``: 100 and 1k).

    python benchmarks/shard.py            # 5,000 images, RSS at 1k / 10k
    python benchmarks/shard.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dpt_core.data.images import NormalizeOptions
from dpt_core.data.stage import ShardConfig, shard_dataset

UNIQUE_IMAGES = 400  # distinct renders; the rest are copies (sharding never deduplicates)


def studio_like_png(seed: int, size: int = 256) -> bytes:
    """A person-like figure: textured limbs and torso over a shaded background, with noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    background = np.stack([40 + yy // 4, 60 + xx // 5, 90 + (xx + yy) // 8], axis=-1)
    img = Image.fromarray(background.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    cx = size // 2 + int(rng.integers(-20, 20))
    parts = [
        (cx - 18, 20, cx + 18, 60),  # head
        (cx - 35, 60, cx + 35, 150),  # torso
        (cx - 60, 65, cx - 35, 150),  # arms
        (cx + 35, 65, cx + 60, 150),
        (cx - 30, 150, cx - 5, 245),  # legs
        (cx + 5, 150, cx + 30, 245),
    ]
    for box in parts:
        draw.ellipse(box, fill=tuple(int(c) for c in rng.integers(60, 255, 3)))
    pixels = np.asarray(img).astype(np.int16)
    stripes = ((xx + yy * int(rng.integers(1, 4))) // int(rng.integers(3, 9)) % 2) * 24
    figure = (pixels != background).any(axis=-1)
    pixels[figure] -= stripes[figure, None].astype(np.int16)
    pixels += rng.integers(-3, 4, pixels.shape, dtype=np.int16)
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, "PNG")
    return out.getvalue()


def make_images(folder: Path, count: int) -> list[Path]:
    """``count`` PNGs in ``folder`` (UNIQUE_IMAGES distinct ones, the rest copies)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"img{i:06d}.png" for i in range(count)]
    for i, path in enumerate(paths):
        if i < UNIQUE_IMAGES:
            path.write_bytes(studio_like_png(i))
        else:
            shutil.copyfile(paths[i % UNIQUE_IMAGES], path)
    return paths


def tarfile_baseline(paths: list[Path], out: Path) -> float:
    """Seconds to write ``paths`` into one tar with tarfile (no decoding)."""
    start = time.perf_counter()
    with tarfile.open(out, "w") as tar:
        for path in paths:
            tar.add(path, arcname=path.name)
    return time.perf_counter() - start


def ours(src: Path, root: Path, workers: int, size: tuple[int, int] | None = None) -> float:
    """Seconds for shard_dataset over ``src`` into a fresh ``root``."""
    shutil.rmtree(root, ignore_errors=True)
    config = ShardConfig(max_count=500, normalize=NormalizeOptions(size=size))
    start = time.perf_counter()
    shard_dataset("image-folder", str(src), str(root), "bench", config, workers=workers)
    return time.perf_counter() - start


_RSS_SCRIPT = """
import sys
from dpt_core.data.stage import ShardConfig, shard_dataset

def status_mib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024

baseline = status_mib("VmRSS:")
shard_dataset("image-folder", sys.argv[1], sys.argv[2], "rss", ShardConfig(max_count=1000))
print(baseline, status_mib("VmHWM:"))
"""


def peak_rss_mib(src: Path, root: Path) -> tuple[float, float]:
    """(RSS after imports, peak RSS) in MiB of a fresh process sharding ``src`` in-process."""
    shutil.rmtree(root, ignore_errors=True)
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(src), str(root)],
                         check=True, capture_output=True, text=True)  # fmt: skip
    baseline, peak = out.stdout.strip().splitlines()[-1].split()
    return float(baseline), float(peak)


def throughput(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    paths = make_images(tmp / "images", args.count)
    best = dict.fromkeys(("tarfile", "ours_1_worker", f"ours_{args.workers}_workers"), 1e9)
    for _ in range(args.repeat):
        best["tarfile"] = min(best["tarfile"], tarfile_baseline(paths, tmp / "baseline.tar"))
        best["ours_1_worker"] = min(best["ours_1_worker"], ours(tmp / "images", tmp / "o1", 1))
        key = f"ours_{args.workers}_workers"
        best[key] = min(best[key], ours(tmp / "images", tmp / "on", args.workers))
    best[f"ours_resize128_{args.workers}_workers"] = ours(
        tmp / "images", tmp / "or", args.workers, (128, 128)
    )
    return {name: args.count / seconds for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rss-counts", type=int, nargs=2, default=(1000, 10000))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.count, args.repeat, args.rss_counts = 300, 1, (100, 1000)
    with tempfile.TemporaryDirectory(prefix="dpt-bench-shard-") as name:
        tmp = Path(name)
        rates = throughput(args, tmp)
        small, large = args.rss_counts
        rss = {n: peak_rss_mib(Path(make_images(tmp / f"rss{n}", n)[0].parent), tmp / f"r{n}")
               for n in (small, large)}  # fmt: skip
    report = {
        "images": args.count,
        "images_per_s": {k: round(v, 1) for k, v in rates.items()},
        "ratio_vs_tarfile": {k: round(v / rates["tarfile"], 2) for k, v in rates.items()},
        "rss_after_imports_mib": {str(n): round(v[0], 1) for n, v in rss.items()},
        "peak_rss_mib": {str(n): round(v[1], 1) for n, v in rss.items()},
        "peak_rss_ratio": round(rss[large][1] / rss[small][1], 3),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
