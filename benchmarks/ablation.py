"""Ablation: predictive branch only, warping branch only, and the blended generator.

The three variants train with the same budget (optimisation steps, batch size, seed) through
the train engine on the same studio split, then render and score the held-out test pairs:
test identities (the studio's test split) transferred into pose names that no training
sample has. Each variant is scored on its own output (predictive -> ``KEY.pred.png``,
warping -> ``KEY.warp.png``, blended -> ``KEY.png``); texture error is that of the completed
atlas on texels the source did not see. Per-region columns: inside the body (target I > 0)
and hair / loose clothing (person mask and I = 0). The studio renders on a black background
(``background=False``), like the plain backgrounds of DeepFashion. Learning rates are the
demo config's per stage (tiny.yaml's 2e-3 suits its 2-step tests, not a 480-step budget).

    .venv/bin/python benchmarks/ablation.py            # tiny, 480 steps per variant (~7 min)
    .venv/bin/python benchmarks/ablation.py --quick    # smoke run (a minute)
    .venv/bin/python benchmarks/ablation.py --scale demo --steps 150
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from _timing import format_table

from dpt_core.data.manifest import read_dataset_manifest
from dpt_core.data.pairs import PAIRS_SCHEMA, pairs_url, person_pairs
from dpt_core.data.sharding import ShardConfig, shard_dataset
from dpt_core.data.shards import write_manifest
from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.stage import extract_dataset
from dpt_core.evaluate import evaluate_renders
from dpt_core.models import get_scale
from dpt_core.render import BRANCHES, RenderJob, render_pairs
from dpt_core.studio import generate_dataset
from dpt_core.train import load_config, train

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "train"
OUTPUT = {"predictive": "predictive", "warping": "warped", "blended": "blended"}
COLUMNS = {"ssim": "SSIM", "ssim_mask": "mask-SSIM", "l1_mask": "mask-L1", "lpips": "LPIPS",
           "l1_body": "L1 body", "ssim_body": "SSIM body", "l1_outside": "L1 hair/cloth",
           "ssim_outside": "SSIM hair/cloth", "texture_error": "texture err"}  # fmt: skip


def stage_plan(variant: str, steps: int) -> dict[str, int]:
    """Steps per training stage of a variant; every variant sums to ``steps``."""
    if variant == "predictive":
        return {"inpainter": 0, "predictive": steps, "blending": 0}
    if variant == "warping":
        return {"inpainter": steps, "predictive": 0, "blending": 0}
    third = steps // 3
    return {"inpainter": third, "predictive": third, "blending": steps - 2 * third}


def prepare(root: str, studio: str, scale: str, identities: int, poses: int, views: int) -> dict:
    """Studio data, shards, studio IUVs and the train/test pairs with held-out pose names."""
    size = get_scale(scale).image_size
    generate_dataset(studio, identities, poses, views, size=size, seed=0, background=False)
    shard_dataset("studio", studio, root, "studio", ShardConfig(max_count=64))
    extract_dataset(root, "studio", ExtractOptions(source="studio"))
    table = read_dataset_manifest(root, "studio", ["key", "person_id", "split", "meta"])
    rows = [{**r, **json.loads(r.pop("meta"))} for r in table.to_pylist()]
    test = [r for r in rows if r["split"] == "test"]
    held_out = {r["pose"] for r in test if r["pose_index"] >= poses - 2}
    persons: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        persons.setdefault((r["split"], r["person_id"]), []).append(r)
    tables = {"train": [], "test": []}
    for (split, person), samples in sorted(persons.items()):
        keys = sorted(r["key"] for r in samples)
        pose = {r["key"]: r["pose"] for r in samples}
        src, tgt = person_pairs(keys, None, person)
        for s, t in zip(src, tgt, strict=True):
            seen_s, seen_t = pose[keys[s]] not in held_out, pose[keys[t]] not in held_out
            if (split == "train" and seen_s and seen_t) or (
                split == "test" and seen_s and not seen_t
            ):
                tables[split].append({"source_key": keys[s], "target_key": keys[t],
                                      "person_id": person})  # fmt: skip
    for split, pairs in tables.items():
        write_manifest(pairs_url(root, "studio", split), pa.Table.from_pylist(pairs, PAIRS_SCHEMA))
    train_poses = {r["pose"] for r in rows if r["split"] == "train"} - held_out
    return {"held_out": sorted(held_out), "train_poses": sorted(train_poses),
            "pairs": {k: len(v) for k, v in tables.items()}}  # fmt: skip


LEARNING_RATES = {"inpainter": 1e-3, "predictive": 5e-4, "blending": 2e-4}  # demo.yaml's


def train_variant(root: str, variant: str, args: argparse.Namespace) -> tuple[str, float]:
    """Train one variant with the demo config's learning rates; (checkpoint URL, seconds)."""
    plan, batch = stage_plan(variant, args.steps), args.batch
    overrides = [f"root={root}", f"run=ablation-{variant}", f"batch_size={batch}",
                 "workers=0", "device=cpu", "amp=false", "progress=false", "resume=null",
                 f"checkpoint_every={10 * args.steps}", "log_every=10", "seed=0",
                 f"stages.inpainter.views={args.views_per_person}", "losses.vgg_weights=null",
                 f"losses.adversarial={args.adversarial}"]  # fmt: skip
    for stage, count in plan.items():
        overrides += [f"stages.{stage}.steps={count}", f"stages.{stage}.batch_size={batch}",
                      f"stages.{stage}.lr={LEARNING_RATES[stage]}"]  # fmt: skip
    overrides.append(f"stages.blending.lr_d={LEARNING_RATES['blending']}")
    config = load_config(str(CONFIGS / f"{args.scale}.yaml"), overrides)
    started = time.perf_counter()
    result = train(config)
    return result.checkpoint, time.perf_counter() - started


def score_variant(root: str, checkpoint: str, variant: str, test_pairs: int) -> dict:
    """Render the test pairs with every branch and score them; summary rows by branch."""
    job = RenderJob(root, checkpoint, "heldout", branches=tuple(BRANCHES))
    render_pairs(job, "test", limit=test_pairs)
    result = evaluate_renders(job.url)
    return {row["branch"]: row for row in result.summary} | {"_report": result.report_url}


def _cells(row: dict, texture: dict | None) -> list[object]:
    values = {**row, "texture_error": (texture or {}).get("texture_error")}
    return ["-" if values.get(c) is None else float(values[c]) for c in COLUMNS]


def run(args: argparse.Namespace, work: str) -> None:
    root, studio = os.path.join(work, "root"), os.path.join(work, "studio")
    started = time.perf_counter()
    split = prepare(root, studio, args.scale, args.identities, args.poses, args.views)
    print(f"data: {json.dumps(split)} ({time.perf_counter() - started:.0f} s)")
    rows, extra = [], []
    for variant in args.variants:
        checkpoint, seconds = train_variant(root, variant, args)
        summary = score_variant(root, checkpoint, variant, args.test_pairs)
        texture = summary.get("texture") if variant != "predictive" else None
        branch = OUTPUT[variant]
        rows.append([variant, branch, args.steps, seconds, *_cells(summary[branch], texture)])
        if variant == "blended":
            extra += [[f"blended model: {b}", b, args.steps, seconds, *_cells(summary[b], None)]
                      for b in ("predictive", "warped")]  # fmt: skip
            extra.append(["baseline: mean part colour", "-", 0, 0.0,
                          *_cells({}, summary.get("texture_mean_fill"))])  # fmt: skip
        print(f"{variant}: trained in {seconds:.0f} s; report {summary['_report']}", flush=True)
    headers = ["variant", "output", "steps", "train s", *COLUMNS.values()]
    print(format_table(headers, rows + extra))
    print(f"total {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 steps, 4 identities")
    parser.add_argument("--scale", default="tiny", choices=("tiny", "demo"))
    parser.add_argument("--steps", type=int, default=480, help="optimisation steps per variant")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--views-per-person", type=int, default=4, help="inpainter batches")
    parser.add_argument("--identities", type=int, default=10)
    parser.add_argument("--poses", type=int, default=6)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--test-pairs", type=int, default=64)
    parser.add_argument("--adversarial", type=float, default=0.1, help="GAN loss weight")
    parser.add_argument("--variants", nargs="+", default=list(OUTPUT), choices=list(OUTPUT))
    parser.add_argument("--work", default=None, help="keep the data and runs in this folder")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.identities, args.poses, args.test_pairs = 6, 4, 4, 8
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(os.cpu_count() or 1)
    np.set_printoptions(precision=4)
    print(f"scale {args.scale}, {args.steps} steps × batch {args.batch} per variant, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    if args.work:
        run(args, args.work)
    else:
        with tempfile.TemporaryDirectory(prefix="dpt-ablation-") as work:
            run(args, work)


if __name__ == "__main__":
    main()
