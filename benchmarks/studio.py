"""Studio throughput: rendered samples per second (default 256×256) on this machine.

    .venv/bin/python benchmarks/studio.py                      # render + write, 1 and 2 workers
    .venv/bin/python benchmarks/studio.py --size 128 --no-dataset

Figures reported:
  render_warm     render_scenes in batches, identity textures and template banks already built
                  (steady state of a long run: each identity serves poses × views samples)
  render_cold     the same on fresh caches: includes texture atlases and template banks
  dataset_wN      generate_dataset end to end (render, PNG encode, atomic writes) with N workers
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import torch

from dpt_core.studio import generate_dataset, render_scenes, scene_grid
from dpt_core.studio.templates import template_bank


def _render(scenes, size: int, batch: int, textures: dict) -> float:
    started = time.perf_counter()
    for i in range(0, len(scenes), batch):
        render_scenes(scenes[i : i + batch], size, textures=textures)
    return len(scenes) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--identities", type=int, default=8)
    parser.add_argument("--poses", type=int, default=4)
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="warm runs; the best is reported")
    parser.add_argument("--no-dataset", action="store_true", help="skip generate_dataset timing")
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 px, 8 samples, once")
    args = parser.parse_args()
    if args.quick:
        args.size, args.identities, args.poses, args.views, args.repeat = 64, 2, 2, 2, 1

    scenes = scene_grid(args.identities, args.poses, args.views, seed=0)
    result = {
        "size": args.size, "samples": len(scenes), "batch_size": args.batch_size,
        "cpu_count": os.cpu_count(), "torch": torch.__version__, "machine": platform.machine(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }  # fmt: skip
    result["render_cold"] = round(_render(scenes, args.size, args.batch_size, {}), 1)
    textures: dict = {}
    _render(scenes, args.size, args.batch_size, textures)
    warm = [_render(scenes, args.size, args.batch_size, textures) for _ in range(args.repeat)]
    result["render_warm"] = round(max(warm), 1)
    result["template_banks_cached"] = template_bank.cache_info().currsize
    if not args.no_dataset:
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                summary = generate_dataset(
                    tmp, args.identities, args.poses, args.views, size=args.size,
                    batch_size=args.batch_size, workers=workers,
                )  # fmt: skip
            result[f"dataset_w{workers}"] = summary["samples_per_s"]
    result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
