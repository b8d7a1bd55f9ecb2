"""Benchmark: training step time per branch, and data-loader throughput against it (CPU).

Data: a studio set rendered at the scale's image size (prepared once under ``--root``, with
textures at the scale's atlas_n). Steps: one optimisation step of each stage on a real batch
(``dpt_core.train.steps``): the inpainter (multi-view loss, persons × 4 views), the predictive
branch (L1, plus VGG perceptual/style with ``--vgg``, random VGG-19 weights: same cost as real
ones), blending = the whole generator end to end plus the PatchGAN discriminator. Loader:
batches per second of ``TrainStream`` through a ``DataLoader`` with 0 and 2 worker processes,
with precomputed textures and scattering on the fly; the loader is not the bottleneck when a
batch arrives faster than a step consumes it (ratio > 1).

    .venv/bin/python benchmarks/train.py            # paper scale: batch 8, 256×256, n=64
    .venv/bin/python benchmarks/train.py --quick    # smoke run: tiny scale, batch 4
"""

from __future__ import annotations

import argparse
import logging
import platform
import tempfile
import time

import torch
from _timing import format_table, median_seconds

from dpt_core.losses import VGGLoss
from dpt_core.models import VGG19Features
from dpt_core.train.config import STAGES, load_config
from dpt_core.train.data import StreamSpec, TrainStream, make_loader
from dpt_core.train.distributed import DistContext
from dpt_core.train.index import build_index
from dpt_core.train.prepare import prepare_studio
from dpt_core.train.stage import Trainer
from dpt_core.train.steps import STEPS


def _spec(config, stage: str) -> StreamSpec:
    scale = config.model_scale
    kind = "multiview" if stage == "inpainter" else "pairs"
    return StreamSpec(kind, config.batch_size, scale.image_size, scale.atlas_n, 0, stage, 4, 64)


def loader_rate(config, index, stage: str, workers: int, batches: int) -> float:
    """Seconds per batch of the loader alone (after its first batch: worker start-up)."""
    batches_iter = iter(make_loader(TrainStream(index, _spec(config, stage)), workers))
    next(batches_iter)
    start = time.perf_counter()
    for _ in range(batches):
        next(batches_iter)
    return (time.perf_counter() - start) / batches


def step_seconds(trainer: Trainer, config, stage: str, repeats: int, clock) -> float:
    """Median seconds of one optimisation step of ``stage`` on one real batch."""
    step = STEPS[stage](
        trainer.generator, trainer.discriminator, config, DistContext(), trainer.vgg, trainer.amp
    )
    batch = next(iter(TrainStream(trainer.index, _spec(config, stage))))
    return median_seconds(lambda: step(batch), repeats=repeats, warmup=1, clock=clock)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="paper")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--loader-batches", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--vgg", action="store_true", help="add perceptual + style losses")
    parser.add_argument("--root", default=None, help="storage root to prepare / reuse")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.scale, args.batch, args.repeats, args.loader_batches = "tiny", 4, 1, 3
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    root = args.root or tempfile.mkdtemp(prefix="dpt-bench-train-")
    overrides = [
        f"root={root}",
        f"scale={args.scale}",
        "scale.inpainter.norm=none",
        f"batch_size={args.batch}",
        "device=cpu",
        "amp=false",
        "workers=0",
        "resume=null",
        "progress=false",
    ]
    config = load_config(None, overrides, check=False)
    scale = config.model_scale
    started = time.perf_counter()
    prepare_studio(
        root,
        "studio",
        identities=5,
        poses=2,
        views=4,
        size=scale.image_size,
        atlas_n=scale.atlas_n,
        shard_size=16,
    )
    print(
        f"data: 40 studio samples at {scale.image_size}² prepared in "
        f"{time.perf_counter() - started:.1f} s under {root}"
    )
    trainer = Trainer(config, DistContext())
    if args.vgg:
        trainer.vgg = VGGLoss(VGG19Features(config.losses.vgg_layers))
    # one thread: CPU seconds of this process (steady on a shared machine); more: wall time
    clock = time.process_time if args.threads == 1 else time.perf_counter
    steps = {stage: step_seconds(trainer, config, stage, args.repeats, clock) for stage in STAGES}
    b = args.batch
    rows = [(s, scale.name, b, t, b / t) for s, t in steps.items()]
    print(
        f"\ntraining step, {scale.image_size}×{scale.image_size}, atlas n={scale.atlas_n}, "
        f"VGG {'on' if args.vgg else 'off'}, {args.threads} thread(s) "
        f"({'CPU' if args.threads == 1 else 'wall'} seconds), {platform.machine()}"
    )
    print(format_table(["stage", "scale", "batch", "s/step", "samples/s"], rows))
    no_textures = build_index(root, "studio", atlas_n=scale.atlas_n, use_textures=False)
    loader_rows = []
    for workers in (0, 2):
        for textures, index in (("precomputed", trainer.index), ("on the fly", no_textures)):
            for stage in ("inpainter", "predictive"):
                seconds = loader_rate(config, index, stage, workers, args.loader_batches)
                kind = "multiview" if stage == "inpainter" else "pairs"
                loader_rows.append(
                    (kind, workers, textures, seconds, b / seconds, steps[stage] / seconds)
                )
    print(
        "\ndata loader alone (ratio = step time / loader time per batch; > 1: not the bottleneck;"
        " against the fastest stage consuming it: inpainter for multi-view, predictive for pairs)"
    )
    headers = ["batches", "workers", "textures", "s/batch", "samples/s", "ratio"]
    print(format_table(headers, loader_rows))


if __name__ == "__main__":
    main()
