"""DensePose extraction benchmark: bare detectron2 forward vs our full shard → IUV-shard stage.

Runs DensePose R-CNN R_50_FPN_s1x and its DeepLab-head variant R_50_FPN_DL_s1x (random weights
saved in the official .pth format, so the numbers measure compute, not accuracy) on studio
renders at SIZE×SIZE:

* images/s of the bare forward (``DensePoseModel.forward``) at batch 1 and batch 8;
* images/s of our whole extraction of one shard (read tar, decode, forward, post-process to
  IUV, PNG-encode, write tar + Parquet + marker) at batch 8, and its ratio to the bare forward
  on the same images (goal: ≤ 1.5×).

Usage: ``.venv/bin/python benchmarks/densepose.py [--images 8] [--size 256] [--repeats 2]
[--device cpu] [--config NAME ...] [--json out.json] [--quick]``. Every image gets exactly one
person (one detection).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from dpt_core import iuv
from dpt_core.data import shards
from dpt_core.densepose.extractors import Detectron2Extractor
from dpt_core.densepose.model import DensePoseModel, save_random_weights
from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.stage import extract_shard
from dpt_core.studio.render import render_samples

NAME = "bench"
DEFAULT_CONFIGS = ("densepose_rcnn_R_50_FPN_s1x", "densepose_rcnn_R_50_FPN_DL_s1x")


def _once(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple]:
    """Median (wall, CPU) seconds per function; one warm-up each, then rounds of all of them
    in turn, so load from other processes hits every function alike."""
    for fn in fns.values():
        fn()
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            runs[name].append(_once(fn))
    return {
        name: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
        for name, r in runs.items()
    }


def _studio(n_images: int, size: int) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    batch = render_samples(identities=max(1, n_images // 4), poses=2, views=2, size=size)
    keys = list(batch.keys[:n_images])
    images = [np.ascontiguousarray(t.permute(1, 2, 0).numpy()) for t in batch.rgb[:n_images]]
    iuvs = [np.ascontiguousarray(t.permute(1, 2, 0).numpy()) for t in batch.iuv[:n_images]]
    return keys, images, iuvs


def _write_dataset(root: Path, keys, images, iuvs) -> None:
    folder = root / "datasets" / NAME / "shards"
    folder.mkdir(parents=True)
    samples = [
        {
            "__key__": key,
            "png": cv2.imencode(".png", image[..., ::-1])[1].tobytes(),
            "iuv.png": iuv.encode_iuv_png(gt),
        }
        for key, image, gt in zip(keys, images, iuvs, strict=True)
    ]
    shards.write_shard(str(folder / f"{NAME}-00000.tar"), samples)


def _bare(model: DensePoseModel, images: list[np.ndarray], batch: int) -> Callable[[], None]:
    def run() -> None:
        for start in range(0, len(images), batch):
            model.forward(images[start : start + batch])

    return run


def _extraction(root: Path, options: ExtractOptions, extractor) -> Callable[[], None]:
    def run() -> None:
        shutil.rmtree(root / "densepose", ignore_errors=True)  # no resume: redo every time
        summary = extract_shard(str(root), NAME, 0, options, extractor)
        assert not summary["skipped"]

    return run


def _bench_config(config: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="dpt-bench-") as tmp:
        root = Path(tmp)
        weights = str(root / f"{config}_random.pth")
        save_random_weights(weights, config)
        options = ExtractOptions(
            source="detectron2", config=config, weights=weights, device=args.device,
            batch_size=8, score_threshold=0.5, max_people=1, min_size=0,
        )  # fmt: skip
        model = DensePoseModel.build(
            config, weights=weights, device=args.device, overrides=options.overrides()
        )
        keys, images, iuvs = _studio(args.images, args.size)
        _write_dataset(root, keys, images, iuvs)
        extractor = Detectron2Extractor(model, "all", batch_size=8)
        timings = _interleaved(
            {
                "bare1": _bare(model, images, 1),
                "bare8": _bare(model, images, 8),
                "full8": _extraction(root, options, extractor),
            },
            args.repeats,
        )
    n = len(images)
    (bare1, _), (bare8, bare8_cpu), (full8, full8_cpu) = (
        timings[k] for k in ("bare1", "bare8", "full8")
    )
    return {
        "config": config,
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "images": n,
        "size": args.size,
        "bare_forward_images_per_s_batch1": n / bare1,
        "bare_forward_images_per_s_batch8": n / bare8,
        "extraction_images_per_s_batch8": n / full8,
        "extraction_over_bare_forward_batch8_wall": full8 / bare8,
        "extraction_over_bare_forward_batch8_cpu": full8_cpu / bare8_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--config", action="append", default=None, help="repeatable")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="2 images at 128 px, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.images, args.size, args.repeats = 2, 128, 1

    reports = [_bench_config(c, args) for c in args.config or DEFAULT_CONFIGS]
    for report in reports:
        for key, value in report.items():
            print(f"{key:40s} {value:.3f}" if isinstance(value, float) else f"{key:40s} {value}")
        print()
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
