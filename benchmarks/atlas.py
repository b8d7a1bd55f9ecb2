"""Benchmark: batched atlas scatter/gather against the texture-transfer notebook's per-part loop.

Inputs: B images of H×W with a synthetic IUV of 24 overlapping elliptical part blobs (about
40% foreground), atlases with n×n tiles. The baseline is what DensePose's texture-transfer
notebook does: per image, loop over the 24 parts with np.where and index arrays (np.add.at
for scatter). Every implementation's output is checked against the baseline before timing.

    .venv/bin/python benchmarks/atlas.py            # batch 32, 256×256, n=200
    .venv/bin/python benchmarks/atlas.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np
import torch
from _timing import format_table, median_seconds

from dpt_core import atlas
from dpt_core.iuv import N_PARTS


def synthetic_iuvs(batch: int, size: int, seed: int = 0) -> np.ndarray:
    """(B, H, W, 3) uint8 IUV: 24 elliptical part blobs per image, later blobs on top."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = np.zeros((batch, size, size, 3), np.uint8)
    for b in range(batch):  # a handful of images; the per-pixel work is vectorised
        centre = rng.normal(0.5, [0.16, 0.09], (N_PARTS, 2)) * size
        radius = rng.uniform(0.06, 0.16, (N_PARTS, 2)) * size
        dy = (yy[None] - centre[:, 0, None, None]) / radius[:, 0, None, None]
        dx = (xx[None] - centre[:, 1, None, None]) / radius[:, 1, None, None]
        inside = dx**2 + dy**2 <= 1.0
        top = N_PARTS - 1 - np.argmax(inside[::-1], axis=0)  # last blob covering the pixel
        fg = inside.any(axis=0)
        pick = np.take_along_axis
        u = (pick(dx, top[None], 0)[0] + 1) / 2
        v = (pick(dy, top[None], 0)[0] + 1) / 2
        parts = rng.permutation(N_PARTS) + 1
        out[b, ..., 0] = np.where(fg, parts[top], 0)
        out[b, ..., 1] = np.where(fg, np.rint(np.clip(u, 0, 1) * 255), 0)
        out[b, ..., 2] = np.where(fg, np.rint(np.clip(v, 0, 1) * 255), 0)
    return out


def loop_gather(atlas_hwc: np.ndarray, iuv_hw3: np.ndarray, n: int) -> np.ndarray:
    """The notebook's gather: loop over parts, np.where, index the part's tile."""
    out = np.zeros((*iuv_hw3.shape[:2], atlas_hwc.shape[2]), atlas_hwc.dtype)
    for part in range(1, N_PARTS + 1):
        row0, col0 = atlas.tile_origin(part, n)
        tile = atlas_hwc[row0 : row0 + n, col0 : col0 + n]
        y, x = np.where(iuv_hw3[:, :, 0] == part)
        u, v = iuv_hw3[y, x, 1], iuv_hw3[y, x, 2]
        out[y, x] = tile[
            ((255 - v) * (n - 1.0) / 255).astype(int), (u * (n - 1.0) / 255).astype(int)
        ]
    return out


def loop_scatter(image_hw3: np.ndarray, iuv_hw3: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """Per-part loop scatter with np.add.at; mean of colliding pixels, as atlas.scatter."""
    rows, cols = atlas.atlas_shape(n)
    sums = np.zeros((rows, cols, image_hw3.shape[2]))
    counts = np.zeros((rows, cols))
    for part in range(1, N_PARTS + 1):
        row0, col0 = atlas.tile_origin(part, n)
        y, x = np.where(iuv_hw3[:, :, 0] == part)
        u, v = iuv_hw3[y, x, 1], iuv_hw3[y, x, 2]
        r = row0 + ((255 - v) * (n - 1.0) / 255).astype(int)
        c = col0 + (u * (n - 1.0) / 255).astype(int)
        np.add.at(sums, (r, c), image_hw3[y, x])
        np.add.at(counts, (r, c), 1)
    means = sums / np.maximum(counts, 1)[..., None]
    return np.rint(means).astype(image_hw3.dtype), counts > 0


def per_image(fn: Callable, first: np.ndarray, second: np.ndarray, *extra: object) -> list:
    """fn(first[k], second[k], *extra) for every image k of the batch."""
    return [fn(a, b, *extra) for a, b in zip(first, second, strict=True)]


def _check(images, iuvs, atlases, n) -> None:
    images_t = torch.from_numpy(images).permute(0, 3, 1, 2)
    iuvs_t = torch.from_numpy(iuvs).permute(0, 3, 1, 2)
    tex_t, vis_t = atlas.scatter_torch(images_t, iuvs_t, n)
    out_t = atlas.gather_torch(torch.from_numpy(atlases).permute(0, 3, 1, 2), iuvs_t)
    for k in range(len(images)):
        tex, vis = loop_scatter(images[k], iuvs[k], n)
        ours_tex, ours_vis = atlas.scatter(images[k], iuvs[k], n)
        assert np.array_equal(ours_tex, tex) and np.array_equal(ours_vis, vis)
        assert np.array_equal(tex_t[k].round().byte().permute(1, 2, 0).numpy(), tex)
        assert np.array_equal(vis_t[k, 0].numpy() > 0, vis)
        expected = loop_gather(atlases[k], iuvs[k], n)
        assert np.array_equal(atlas.gather(atlases[k], iuvs[k]), expected)
        assert np.array_equal(out_t[k].permute(1, 2, 0).numpy(), expected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 4, 1 repeat: a smoke run")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--n", type=int, default=atlas.DEFAULT_N)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument(
        "--clock", choices=["wall", "cpu"], default="wall", help="cpu: process CPU time"
    )
    args = parser.parse_args()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    batch, repeats = (4, 1) if args.quick else (args.batch, args.repeats)
    n, rng = args.n, np.random.default_rng(1)

    iuvs = synthetic_iuvs(batch, args.size)
    images = rng.integers(0, 256, (batch, args.size, args.size, 3), dtype=np.uint8)
    atlases = rng.integers(0, 256, (batch, *atlas.atlas_shape(n), 3), dtype=np.uint8)
    _check(images[:2], iuvs[:2], atlases[:2], n)
    # the same uint8 arrays as (B, C, H, W) tensors; bilinear (training) samples a float atlas
    images_t = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    iuvs_t = torch.from_numpy(iuvs).permute(0, 3, 1, 2).contiguous()
    atlases_t = torch.from_numpy(atlases).permute(0, 3, 1, 2).contiguous()
    atlases_f = atlases_t.float()

    cases = {
        "gather": {
            "loop (notebook)": lambda: per_image(loop_gather, atlases, iuvs, n),
            "numpy vectorised": lambda: per_image(atlas.gather, atlases, iuvs),
            "torch batched": lambda: atlas.gather_torch(atlases_t, iuvs_t),
            "torch batched bilinear": lambda: atlas.gather_torch(atlases_f, iuvs_t, "bilinear"),
        },
        "scatter": {
            "loop (np.add.at)": lambda: per_image(loop_scatter, images, iuvs, n),
            "numpy vectorised": lambda: per_image(atlas.scatter, images, iuvs, n),
            "torch batched": lambda: atlas.scatter_torch(images_t, iuvs_t, n),
        },
    }
    rows = []
    for op, impls in cases.items():
        base = None
        for name, fn in impls.items():
            seconds = median_seconds(fn, repeats, warmup=1, clock=clock)
            base = base or seconds
            rows.append([op, name, seconds * 1e3, seconds * 1e3 / batch, f"{base / seconds:.1f}x"])
    fg = (iuvs[..., 0] > 0).mean()
    threads, load = torch.get_num_threads(), os.getloadavg()[0]
    print(
        f"batch {batch}, {args.size}x{args.size}, n={n}, foreground {fg:.0%}; median {args.clock} "
        f"time of {repeats}; torch {torch.__version__}, {threads} thread(s); "
        f"{os.cpu_count()} CPUs ({platform.machine()}), load average {load:.1f}"
    )
    print(format_table(["op", "implementation", "ms/batch", "ms/image", "vs loop"], rows))


if __name__ == "__main__":
    main()
