"""Ablation on the studio benchmark: predictive only, warping only and the blend, over seeds.

Question first, then numbers. The studio renders photo shoots (one background and light per
person, as DeepFashion In-shop), clothes labelled as the body beneath them (as DensePose does),
and the split is fixed before training: held-out identities rendered into held-out poses
(``dpt_core.data.heldout``, asserted disjoint). Per seed, one run trains the three stages in
order — inpainter (multi-view), predictive, blender over the frozen branches — so the final
checkpoint's predictive and warped outputs *are* the predictive-only and warping-only models,
and one render of the test pairs scores all three variants plus the completed texture against
five baselines (mean part colour, nearest visible texel, mirrored part, push-pull and strip
fill). The texture ground truth is each test person's *observed* atlas (``studio.observed``: the
mean colour every texel shows over all of that person's samples), since with clothes labelled as
the body beneath them the skin atlas is not what the camera sees under a skirt.

    .venv/bin/python benchmarks/ablation.py --scale demo          # 3 seeds, ~40 min on 2 cores
    .venv/bin/python benchmarks/ablation.py --quick               # smoke run (2 minutes)
    .venv/bin/python benchmarks/ablation.py --validation --seeds 0 --set KEY=VALUE
                                      # a candidate recipe on the validation split

Every recipe choice is made with ``--validation`` (``data.heldout.validation_pairs``: a quarter
of the training identities held out of training and rendered into four training poses that the
rest train without — the test question asked inside the training part), never on the test
identities or poses.

Prints the per-variant table (mean ± spread over seeds), per-part texture errors and the
paper's claims with how many seeds each holds for; ``--out`` writes them as JSON plus each
seed's contact sheet and report.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from _timing import format_table

from dpt_core import storage
from dpt_core.data.heldout import (
    HELD_OUT_POSES,
    VALIDATION_EVERY,
    held_out_pairs,
    validation_pairs,
)
from dpt_core.data.manifest import read_dataset_manifest
from dpt_core.data.pairs import PAIRS_SCHEMA, pairs_url
from dpt_core.data.shards import write_manifest
from dpt_core.data.stage import ShardConfig, shard_dataset
from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.stage import extract_dataset
from dpt_core.evaluate import PART_COLUMNS, EvalOptions, evaluate_renders
from dpt_core.iuv import PART_NAMES
from dpt_core.models import get_scale
from dpt_core.render import BRANCHES, RenderJob, render_pairs
from dpt_core.studio import generate_dataset
from dpt_core.studio.observed import write_observed_atlases
from dpt_core.studio.stage import test_identities
from dpt_core.train import load_config, train

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "train"
VARIANTS = {"predictive": "predictive", "warping": "warped", "blend": "blended"}
IMAGE_COLUMNS = {"ssim": "SSIM", "ssim_mask": "mask-SSIM", "l1_mask": "mask-L1",
                 "l1_body": "L1 body", "ssim_body": "SSIM body", "l1_outside": "L1 hair/cloth",
                 "ssim_outside": "SSIM hair/cloth"}  # fmt: skip
TEXTURES = {"texture": "learned inpainter", "texture_mean_fill": "baseline: mean part colour",
            "texture_nearest_fill": "baseline: nearest visible texel",
            "texture_mirror_fill": "baseline: mirrored part",
            "texture_pushpull_fill": "baseline: push-pull fill",
            "texture_strip_fill": "baseline: strip fill (the network's start)"}  # fmt: skip

ISSUE_BASELINES = ("texture_mean_fill", "texture_nearest_fill", "texture_mirror_fill")


def prepare(root: str, studio: str, args: argparse.Namespace) -> dict:
    """Studio data, shards, studio IUVs and the held-out train/test pairs."""
    size = get_scale(args.scale).image_size
    total = args.identities + args.extra_identities
    generate_dataset(studio, total, args.poses, args.views, size=size, seed=0,
                     lit=args.lit, scenes="shoot")  # fmt: skip
    shard_dataset("studio", studio, root, "studio", ShardConfig(max_count=64))
    extract_dataset(root, "studio", ExtractOptions(source="studio"))
    table = read_dataset_manifest(root, "studio", ["key", "person_id", "split", "meta"])
    rows = fixed_split([{**r, **json.loads(r.pop("meta"))} for r in table.to_pylist()],
                       args.identities)  # fmt: skip
    # both raise on any identity or pose leak
    if args.validation:  # the people --identities alone would score, whatever is added
        base = sorted({r["person_id"] for r in rows
                       if r["split"] == "train" and r["identity"] < args.identities})  # fmt: skip
        pairs = validation_pairs(rows, scored=base[::VALIDATION_EVERY])
    else:
        pairs = held_out_pairs(rows)
    for split, split_pairs in pairs.items():
        write_manifest(pairs_url(root, "studio", split),
                       pa.Table.from_pylist(split_pairs, PAIRS_SCHEMA))  # fmt: skip
    pose = {r["key"]: r["pose"] for r in rows}
    targets = sorted({pose[p["target_key"]] for p in pairs["test"]})
    person = {r["key"]: r["person_id"] for r in rows}
    test_people = {person[p["source_key"]] for p in pairs["test"]}
    skip = HELD_OUT_POSES if args.validation else ()
    write_observed_atlases(studio, observed_url(work_of(root)), get_scale(args.scale).atlas_n,
                           test_people, skip_poses=skip)  # fmt: skip
    return {"train_pairs": len(pairs["train"]), "test_pairs": len(pairs["test"]),
            "test_target_poses": targets, "test_people": sorted(test_people)}  # fmt: skip


def fixed_split(rows: list[dict], identities: int) -> list[dict]:
    """Sample rows with the test people of a studio of ``identities`` people (its last 20 %),
    whatever was generated beyond them: every identity from ``identities`` on trains."""
    first_test = identities - test_identities(identities)
    test = range(first_test, identities)
    return [{**r, "split": "test" if r["identity"] in test else "train"} for r in rows]


def work_of(root: str) -> str:
    return os.path.dirname(root)


def observed_url(work: str) -> str:
    """Texture ground truth: the test people's observed atlases (``studio.observed``)."""
    return os.path.join(work, "observed-atlases")


def train_seed(root: str, seed: int, args: argparse.Namespace) -> tuple[str, float]:
    """Train the three stages with ``seed``; (checkpoint URL, seconds)."""
    overrides = [f"root={root}", f"run=ablation-seed{seed}", f"seed={seed}", "workers=0",
                 "device=cpu", "amp=false", "progress=false", "resume=null",
                 "checkpoint_every=100000", "log_every=25", "use_textures=false",
                 f"stages.inpainter.steps={args.inpainter_steps}",
                 f"stages.predictive.steps={args.predictive_steps}",
                 f"stages.blending.steps={args.blending_steps}",
                 f"losses.vgg_weights={args.vgg or 'null'}", *args.set]  # fmt: skip
    config = load_config(str(CONFIGS / f"{args.scale}.yaml"), overrides)
    started = time.perf_counter()
    result = train(config)
    return result.checkpoint, time.perf_counter() - started


def score_seed(root: str, checkpoint: str, seed: int, test_pairs: int) -> dict:
    """Render the test pairs with every branch and score them: summary rows by branch."""
    job = RenderJob(root, checkpoint, "heldout", run=f"ablation-seed{seed}",
                    branches=tuple(BRANCHES))  # fmt: skip
    render_pairs(job, "test", limit=test_pairs)
    result = evaluate_renders(job.url, EvalOptions(atlases_url=observed_url(work_of(root))))
    rows = {row["branch"]: row for row in result.summary}
    return {"rows": rows, "report": result.report_url, "sheet": result.sheet_url}


def _stat(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    spread = (max(values) - min(values)) / 2 if len(values) > 1 else 0.0
    return f"{np.mean(values):.4f} ± {spread:.4f}"


def claims(per_seed: list[dict]) -> list[tuple[str, bool, int, float]]:
    """(claim, holds on the mean, number of seeds it holds for, margin on the mean); a claim
    holds when it holds on the mean and on at least 2 of 3 seeds. The margin is how far the mean
    is on the right side (negative: by how much it misses)."""

    def check(rows: dict) -> dict[str, float]:
        p, w, b = (rows[VARIANTS[v]] for v in VARIANTS)
        tex = rows["texture"]["texture_error"]
        base = [rows[k]["texture_error"] for k in ISSUE_BASELINES]
        out = {"texture completion <= 0.8 × best of mean/nearest/mirror": 0.8 * min(base) - tex,
               "texture completion < strip fill (its start)":
                   rows["texture_strip_fill"]["texture_error"] - tex}  # fmt: skip
        for region in ("body", "outside"):
            l1, ssim = f"l1_{region}", f"ssim_{region}"
            out[f"blend L1 {region} <= better branch"] = min(p[l1], w[l1]) - b[l1]
            out[f"blend SSIM {region} >= better branch"] = b[ssim] - max(p[ssim], w[ssim])
        out["blend best whole-image SSIM"] = b["ssim"] - max(p["ssim"], w["ssim"])
        out["warping beats predictive inside the body (L1 and SSIM)"] = min(
            p["l1_body"] - w["l1_body"], w["ssim_body"] - p["ssim_body"]
        )
        return out

    def holds(name: str, margin: float) -> bool:  # "<" and "beats" are strict, the rest not
        strict = name.startswith("texture completion < ") or "beats" in name
        return margin > 0 if strict else margin >= 0

    mean_rows = {branch: {c: float(np.mean([s[branch][c] for s in per_seed]))
                          for c in [*IMAGE_COLUMNS, "texture_error"]
                          if all(s[branch].get(c) is not None for s in per_seed)}
                 for branch in per_seed[0]}  # fmt: skip
    mean = check(mean_rows)
    seeds = [check(s) for s in per_seed]
    return [(name, holds(name, m), sum(holds(name, s[name]) for s in seeds), m)
            for name, m in mean.items()]  # fmt: skip


def report(per_seed: list[dict]) -> str:
    """Tables: variants, texture completion, texture per part, claims."""
    lines = []
    rows = [[v, *(_stat([s[b][c] for s in per_seed]) for c in IMAGE_COLUMNS)]
            for v, b in VARIANTS.items()]  # fmt: skip
    lines.append(format_table(["variant", *IMAGE_COLUMNS.values()], rows))
    tex = [[name, _stat([s[k]["texture_error"] for s in per_seed])] for k, name in TEXTURES.items()]
    lines.append(format_table(["texture completion (unseen texels)", "L1 error"], tex))
    parts = [[f"{p:02d} {PART_NAMES[p]}",
              *(_stat([s[k].get(PART_COLUMNS[p - 1]) for s in per_seed]) for k in TEXTURES)]
             for p in PART_NAMES]  # fmt: skip
    lines.append(format_table(["part", *(k.replace("texture_", "") for k in TEXTURES)], parts))
    need = min(2, len(per_seed))
    verdicts = [[name, "holds" if ok and n >= need else "FAILS",
                 f"mean: {'yes' if ok else 'no'}; seeds: {n}/{len(per_seed)}", f"{m:+.6f}"]
                for name, ok, n, m in claims(per_seed)]  # fmt: skip
    lines.append(format_table(["claim", "verdict", "detail", "margin"], verdicts))
    return "\n\n".join(lines)


def run(args: argparse.Namespace, work: str) -> None:
    root, studio = os.path.join(work, "root"), os.path.join(work, "studio")
    started = time.perf_counter()
    split = prepare(root, studio, args)
    print(f"data: {json.dumps(split)} ({time.perf_counter() - started:.0f} s)", flush=True)
    per_seed, seconds = [], []
    for seed in args.seeds:
        checkpoint, s = train_seed(root, seed, args)
        scored = score_seed(root, checkpoint, seed, args.test_pairs)
        per_seed.append(scored["rows"])
        seconds.append(s)
        print(f"seed {seed}: trained in {s:.0f} s; sheet {scored['sheet']}", flush=True)
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            for name in ("sheet", "report"):
                ext = "png" if name == "sheet" else "html"
                dest = os.path.join(args.out, f"ablation-{args.scale}-seed{seed}.{ext}")
                storage.write_bytes(dest, storage.read_bytes(scored[name]))
    print(report(per_seed))
    total = time.perf_counter() - started
    print(f"training {np.mean(seconds):.0f} s per seed; total {total:.0f} s")
    if args.out:
        record = {"args": {k: v for k, v in vars(args).items()}, "split": split,
                  "seconds_total": total, "per_seed": per_seed,
                  "claims": claims(per_seed)}  # fmt: skip
        with open(os.path.join(args.out, f"ablation-{args.scale}.json"), "w") as fh:
            json.dump(record, fh, indent=1, default=str)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few steps, 1 seed")
    parser.add_argument("--scale", default="demo", choices=("tiny", "demo"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--inpainter-steps", type=int, default=400)
    parser.add_argument("--predictive-steps", type=int, default=300)
    parser.add_argument("--blending-steps", type=int, default=900)
    parser.add_argument("--identities", type=int, default=40)
    parser.add_argument(
        "--extra-identities",
        type=int,
        default=0,
        help="more studio people, all training: the test people (and, with --validation, "
        "the scored people) stay those of --identities",
    )
    parser.add_argument("--poses", type=int, default=6)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--test-pairs", type=int, default=48)
    parser.add_argument("--lit", action=argparse.BooleanOptionalAction, default=False,
                        help="shaded studio (default unlit: texture error is then against the "
                             "very colours a camera sees, not lighting)")  # fmt: skip
    parser.add_argument(
        "--validation",
        action="store_true",
        help="choose recipes here: train on 3/4 of the training identities without the "
        "validation poses, score the other 1/4 in those poses (no test identity or pose)",
    )
    parser.add_argument("--vgg", default=None, help="VGG-19 weights for perceptual/style")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra training override (repeatable), e.g. losses.l1_person=1",
    )
    parser.add_argument("--work", default=None, help="keep data and runs in this folder")
    parser.add_argument("--out", default=None, help="write JSON, sheets and reports here")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.identities, args.poses, args.test_pairs = [0], 5, 4, 8
        args.inpainter_steps = args.predictive_steps = args.blending_steps = 4
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"scale {args.scale}, seeds {args.seeds}, steps {args.inpainter_steps}/"
          f"{args.predictive_steps}/{args.blending_steps}, {torch.get_num_threads()} threads, "
          f"{'lit' if args.lit else 'unlit'} studio, "
          f"VGG {args.vgg or 'off (no weights)'}")  # fmt: skip
    if args.work:
        if os.path.exists(args.work) and not args.quick:
            shutil.rmtree(args.work)
        run(args, args.work)
    else:
        with tempfile.TemporaryDirectory(prefix="dpt-ablation-") as work:
            run(args, work)


if __name__ == "__main__":
    main()
