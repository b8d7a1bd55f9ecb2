"""Cost against data-set size: time per 1k images and peak memory of every stage, 1k → 100k.

For each size, in a fresh root, each stage runs alone in a fresh process (``_scale_stages``):
shard → extract (studio ground-truth IUVs) → textures (tiny atlas) → pairs → render planning
(every test pair as a request, as render-batch plans them) → render (a fixed number of the
planned shards, evenly spread, each as the flow's task renders it, at the tiny scale with a
randomly initialised generator in the training checkpoint format: speed does not depend on
the weights; at ~5 renders/s rendering every pair of 100k images would take days). Reported per
stage: wall and CPU seconds per 1k items (images; renders for render) and peak RSS, with
ratios against the smallest size measured in the same run. Goals: per-1k time at the
largest size ≤ 1.2× the smallest's, peak RSS ≤ 1.5×.

Then ``make-pairs`` and render planning over a million pairs (manifests only; goal: peak RSS
≤ 1 GiB), and Prefect's own cost (``_scale_prefect``): seconds per task, API calls and
database growth per task from two ``preprocess`` runs, and what that gives at 100k images.

Inputs are made once and cached under ``--work`` (``_scale_data``): a 64 px studio pool,
sources of each size over its files, the million-pair manifests.

    .venv/bin/python benchmarks/scale.py --work /work/scale-cache     # 1k, 10k, 100k
    .venv/bin/python benchmarks/scale.py --quick                      # 100, 1k; 20k pairs
    .venv/bin/python benchmarks/scale.py --work DIR --stages shard --skip pairs prefect  # one stage
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence

from _scale_data import pairs_dataset, studio_pool, studio_source
from _timing import format_table

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
ATLAS_N, SIZE_PX = 16, 64  # the tiny scale's atlas and image size
TIME_GOAL, RSS_GOAL, PAIRS_RSS_GOAL_MIB, PREFECT_SHARE = 1.2, 1.5, 1024.0, 0.05
STAGES = ("shard", "extract", "textures", "pairs", "render plan", "render")
PREFECT_STAGES = ("shard", "extract", "textures")  # the per-image costs Prefect's share needs
FULL = {"sizes": [1000, 10_000, 100_000], "renders": 256, "render_shard": 64,
        "pairs": 1_000_000, "pool": 50, "repeats": 3}  # fmt: skip
QUICK = {"sizes": [100, 1000], "renders": 32, "render_shard": 16, "pairs": 20_000, "pool": 10,
         "repeats": 1}  # fmt: skip


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (PROJECT, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_stage(stage: str, **kwargs: object) -> dict:
    """One stage in a fresh process (``_scale_stages``): its JSON figures."""
    command = [sys.executable, os.path.join(HERE, "_scale_stages.py"), stage, json.dumps(kwargs)]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"stage {stage} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_size(
    src: str, root: str, count: int, renders: int, render_shard: int, stages: Sequence[str] = STAGES
) -> dict:
    """``stages`` over one data set: {stage: figures + items}. With ``shard`` among them
    ``root`` starts empty; without it, the later stages read what an earlier run left there."""
    if "shard" in stages:
        shutil.rmtree(root, ignore_errors=True)
    out = {}
    if "shard" in stages:
        out["shard"] = run_stage("shard", src=src, root=root, max_count=1000)
    if "extract" in stages:
        out["extract"] = run_stage("extract", root=root)
    if "textures" in stages:
        out["textures"] = run_stage("textures", root=root, n=ATLAS_N)
    if "pairs" in stages:
        out["pairs"] = run_stage("pairs", root=root)
    if {"render plan", "render"} & set(stages):
        ckpt = run_stage("checkpoint", root=root, scale="tiny")["result"]
        job = {"root": root, "checkpoint": ckpt, "name": "scale", "shard_size": render_shard}
        if "render plan" in stages:
            out["render plan"] = run_stage("plan", **job, limit=None)
        if "render" in stages:
            out["render"] = run_stage("render", **job, shards=renders // render_shard)
    for stage, figures in out.items():
        figures["items"] = figures["result"] if stage == "render" else count
        if stage in ("shard", "extract", "textures") and figures["result"] != count:
            raise RuntimeError(f"{stage}: {figures['result']} of {count} samples")
    return out


def scale_rows(results: dict[int, dict]) -> list[list[object]]:
    """Table rows: per stage and size, per-1k times, peak RSS and ratios to the first size."""
    rows, first = [], min(results)
    for stage in results[first]:
        base = results[first][stage]
        for size, by_stage in results.items():
            f = by_stage[stage]
            wall, cpu = (1e3 * f[k] / max(f["items"], 1) for k in ("wall_s", "cpu_s"))
            wall0, cpu0 = (1e3 * base[k] / max(base["items"], 1) for k in ("wall_s", "cpu_s"))
            rss, rss0 = f["rss_peak_mib"], base["rss_peak_mib"]
            goal = "" if size == first else _verdict(cpu / cpu0, rss / rss0)
            rows.append([stage, size, f["items"], wall, cpu, rss,
                         wall / wall0, cpu / cpu0, rss / rss0, goal])  # fmt: skip
    return rows


def _verdict(cpu_ratio: float, rss_ratio: float) -> str:
    """Goals against the smallest size: time (CPU, steady on a shared machine) and memory."""
    missed = [what for what, bad in (("time", cpu_ratio > TIME_GOAL), ("RSS", rss_ratio > RSS_GOAL))
              if bad]  # fmt: skip
    return "met" if not missed else "MISSED " + "+".join(missed)


def million_pairs(work: str, pairs: int) -> list[list[object]]:
    """make-pairs and render planning over ``pairs`` pairs: seconds and peak RSS."""
    root = pairs_dataset(work, pairs)
    shutil.rmtree(os.path.join(root, "pairs"), ignore_errors=True)
    shutil.rmtree(os.path.join(root, "renders"), ignore_errors=True)
    made = run_stage("pairs", root=root)
    ckpt = run_stage("checkpoint", root=root, scale="tiny")["result"]
    plan = run_stage("plan", root=root, checkpoint=ckpt, name="all", shard_size=256, limit=None)
    return [[name, f["result"], f["wall_s"], f["cpu_s"], f["rss_peak_mib"],
             "met" if f["rss_peak_mib"] <= PAIRS_RSS_GOAL_MIB else "MISSED"]
            for name, f in (("make-pairs", made), ("render planning", plan))]  # fmt: skip


def prefect_cost(src: str, work: str, count: int, repeats: int) -> dict:
    """``_scale_prefect`` in its own process (run from the project root)."""
    code = f"import sys; sys.path.append({HERE!r}); import _scale_prefect; _scale_prefect.main()"
    command = [sys.executable, "-c", code, src, work, str(count), str(repeats)]
    done = subprocess.run(command, env=_env(), cwd=PROJECT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"prefect cost failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def prefect_rows(cost: dict, per_image_s: dict[str, float], images: int, max_count: int):
    """At ``images`` images in shards of ``max_count``: tasks, API calls, database bytes, and
    per stage the share of Prefect's per-task time in the work and the smallest good shard."""
    shards = math.ceil(images / max_count)
    tasks = round(cost["tasks_fixed"] + cost["tasks_per_shard"] * shards)
    totals = {k: cost["fixed"][k] + v * tasks for k, v in cost["per_task"].items()}
    summary = [["task runs", tasks], ["API calls", round(totals["api_calls"])],
               ["database MiB", totals["bytes"] / 2**20],
               ["events", round(totals["events"])]]  # fmt: skip
    overhead = cost["overhead_s"]
    stages = [[stage, 1e3 * s, max_count, overhead / (max_count * s),
               math.ceil(overhead / (PREFECT_SHARE * s))]
              for stage, s in per_image_s.items()]  # fmt: skip
    return summary, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 and 1k images, 20k pairs")
    parser.add_argument("--work", help="cache folder for the inputs (default: a temp folder)")
    parser.add_argument("--sizes", type=int, nargs="+", help="data-set sizes (multiples of 20)")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES,
                        help="per-size stages to run (default: all; without shard, each root "
                             "is reused as an earlier run left it)")  # fmt: skip
    parser.add_argument("--skip", nargs="*", default=[], choices=["pairs", "prefect"])
    parser.add_argument("--json", help="also write every stage's figures to this file")
    args = parser.parse_args()
    config = {**(QUICK if args.quick else FULL), **({"sizes": args.sizes} if args.sizes else {})}
    temp = tempfile.TemporaryDirectory(prefix="dpt-bench-scale-")
    with contextlib.nullcontext(args.work) if args.work else temp as work:
        os.makedirs(work, exist_ok=True)
        run(args, config, work)


def run(args: argparse.Namespace, config: dict, work: str) -> None:
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; sizes {config['sizes']}, "
          f"{config['renders']} renders per size, work {work}", flush=True)  # fmt: skip
    pool = studio_pool(work, config["pool"], SIZE_PX)
    sources = {n: studio_source(work, n, pool) for n in config["sizes"]}
    results = {}
    for n, src in sources.items():
        root = os.path.join(work, f"root-{n}")
        results[n] = measure_size(
            src, root, n, config["renders"], config["render_shard"], args.stages
        )
        figures = {s: {k: round(f[k], 2) for k in ("wall_s", "cpu_s", "rss_peak_mib")}
                   for s, f in results[n].items()}  # fmt: skip
        print(f"size {n} (load {os.getloadavg()[0]:.1f}): {json.dumps(figures)}", flush=True)
    headers = ["stage", "images", "items", "wall s/1k", "CPU s/1k", "peak RSS MiB",
               "wall ×", "CPU ×", "RSS ×", "goals (CPU ≤ 1.2×, RSS ≤ 1.5×)"]  # fmt: skip
    print(format_table(headers, scale_rows(results)), flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({str(n): r for n, r in results.items()}, out, indent=1)
    if "pairs" not in args.skip:
        headers = ["over many pairs", "pairs", "wall s", "CPU s", "peak RSS MiB", "≤ 1 GiB"]
        print(format_table(headers, million_pairs(work, config["pairs"])), flush=True)
    if "prefect" not in args.skip:
        if not set(PREFECT_STAGES) <= set(args.stages):
            raise SystemExit(f"Prefect's cost needs the stages {PREFECT_STAGES}: --skip prefect")
        print_prefect_cost(sources, results, config["repeats"], work)


def print_prefect_cost(sources: dict[int, str], results: dict, repeats: int, work: str) -> None:
    """Prefect's cost measured on the smallest size, projected to 100k images."""
    small = min(sources)
    cost = prefect_cost(sources[small], work, small, repeats)
    largest = results[max(results)]
    per_image = {s: largest[s]["wall_s"] / largest[s]["items"]
                 for s in ("shard", "extract", "textures")}  # fmt: skip
    summary, stages = prefect_rows(cost, per_image, 100_000, 1000)
    print(f"Prefect per task: {1e3 * cost['overhead_s']:.1f} ms (thread runner), "
          f"{cost['per_task']['api_calls']:.1f} API calls, "
          f"{cost['per_task']['bytes'] / 1024:.1f} KiB of database")  # fmt: skip
    print(f"preprocess runs measured: {cost['runs']}")
    print(format_table(["preprocess at 100k images, shards of 1000", "value"], summary))
    print(format_table(["stage", "work ms/img", "shard", "Prefect share", "min shard <5 %"],
                       stages))  # fmt: skip


if __name__ == "__main__":
    main()
