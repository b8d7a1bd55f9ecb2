"""Benchmark: render throughput at batch 8, end to end against the bare generator forward.

End to end = ``render_requests`` on a fresh render set: plan (requests.parquet, render.json,
checkpoint hash), input index from the manifests, reading the image and IUV shards, decoding,
the forward pass, PNG encoding and writing the output shard, manifest and marker. The bare
forward runs the same generator on the same requests, already decoded into tensors, in
batches of 8 under ``torch.inference_mode``. Inputs: a studio data set at the scale's image
size (sharded, studio IUVs), every ordered pair of images of the same person as requests,
and a randomly initialised generator saved as a training checkpoint (speed does not depend on
the weights).

    .venv/bin/python benchmarks/render.py            # tiny and demo scales, 96 requests
    .venv/bin/python benchmarks/render.py --quick    # tiny only, 24 requests
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import tempfile
import time

import torch
from _timing import format_table

from dpt_core import storage
from dpt_core.data.manifest import read_dataset_manifest
from dpt_core.data.pairs import person_pairs
from dpt_core.data.stage import ShardConfig, shard_dataset
from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.stage import extract_dataset
from dpt_core.models import DensePoseTransfer, get_scale
from dpt_core.render import RenderJob, input_indexes, load_render_model, render_requests
from dpt_core.studio import generate_dataset
from dpt_core.train.checkpoint import save_checkpoint
from dpt_core.train.samples import decode_sample

BATCH = 8


def build_root(base: str, scale: str, identities: int) -> tuple[str, str]:
    """(root, checkpoint URL): studio data at the scale's size, sharded, IUVs, a checkpoint."""
    size = get_scale(scale).image_size
    studio, root = os.path.join(base, "studio"), os.path.join(base, "root")
    generate_dataset(studio, identities, poses=2, views=4, size=size, seed=0)
    shard_dataset("studio", studio, root, "studio", ShardConfig(max_count=64))
    extract_dataset(root, "studio", ExtractOptions(source="studio"))
    torch.manual_seed(0)
    model = DensePoseTransfer.from_config(scale)
    payload = {"stage": "blending", "models": {"generator": model.state_dict()},
               "scale": get_scale(scale).model_dump(mode="json"), "config": {}}  # fmt: skip
    return root, save_checkpoint(storage.join(root, "runs", "bench"), 1, payload)


def same_person_requests(root: str, count: int) -> list[tuple[str, str]]:
    """The first ``count`` ordered pairs of different images of the same person."""
    table = read_dataset_manifest(root, "studio", ["key", "person_id"])
    by_person: dict[str, list[str]] = {}
    for key, person in zip(*table.to_pydict().values(), strict=True):
        by_person.setdefault(person, []).append(key)
    out = []
    for person, keys in sorted(by_person.items()):
        src, tgt = person_pairs(sorted(keys), None, person)
        out += [(keys[s], keys[t]) for s, t in zip(src, tgt, strict=True)]
    return out[:count]


def bare_forward_seconds(
    job: RenderJob, requests: list[tuple[str, str]], scale: str
) -> tuple[float, float]:
    """(wall, CPU) seconds of the generator forward alone on the decoded requests (batch 8)."""
    from dpt_core.render import fetch_members, plan_render, read_render_info

    plan_render(job, requests)
    info = read_render_info(job.url)
    sources, _ = input_indexes(job)
    keys = {k for pair in requests for k in pair}
    images, iuvs = fetch_members(sources.images, keys), fetch_members(sources.iuvs, keys)
    n, size = get_scale(scale).atlas_n, get_scale(scale).image_size
    decoded = {k: decode_sample(k, {**images[k], "iuv.png": iuvs[k]["iuv.png"]}, size, n)
               for k in keys}  # fmt: skip
    model = load_render_model(info["checkpoint_url"], info["checkpoint_sha256"], "cpu")
    batches = [requests[i : i + BATCH] for i in range(0, len(requests), BATCH)]
    tensors = [(torch.stack([decoded[s].image for s, _ in b]),
                torch.stack([decoded[s].iuv for s, _ in b]),
                torch.stack([decoded[t].iuv for _, t in b])) for b in batches]  # fmt: skip
    with torch.inference_mode():
        model(*tensors[0])  # warm-up
        started, cpu = time.perf_counter(), time.process_time()
        for args in tensors:
            model(*args)
    return time.perf_counter() - started, time.process_time() - cpu


def run_scale(scale: str, count: int, repeats: int) -> list[object]:
    with tempfile.TemporaryDirectory(prefix=f"dpt-bench-render-{scale}-") as base:
        root, checkpoint = build_root(base, scale, identities=max(2, count // 48 + 2))
        requests = same_person_requests(root, count)
        job = RenderJob(root, checkpoint, "warmup", run="bench")
        render_requests(job, requests[:BATCH])  # loads the model, warms the caches
        end_to_end, bare = [], []
        for r in range(repeats):  # interleaved, so load from other jobs hits both alike
            job = RenderJob(root, checkpoint, f"e2e{r}", run="bench")
            started, cpu = time.perf_counter(), time.process_time()
            summary = render_requests(job, requests)
            end_to_end.append((time.perf_counter() - started, time.process_time() - cpu))
            assert summary.samples == len(requests), summary
            bare.append(bare_forward_seconds(RenderJob(root, checkpoint, f"bare{r}", run="bench"),
                                             requests, scale))  # fmt: skip
    (e2e, e2e_cpu), (fwd, fwd_cpu) = (tuple(map(statistics.median, zip(*t, strict=True)))
                                      for t in (end_to_end, bare))  # fmt: skip
    size, n = get_scale(scale).image_size, len(requests)
    return [scale, f"{size}x{size}", n, n / e2e, n / fwd, 1e3 * e2e_cpu / n, 1e3 * fwd_cpu / n,
            fwd_cpu / e2e_cpu]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny scale only, 24 requests")
    parser.add_argument("--requests", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    scales = ["tiny"] if args.quick else ["tiny", "demo"]
    count, repeats = (24, 1) if args.quick else (args.requests, args.repeats)
    logging.getLogger("dpt_core").setLevel(logging.WARNING)
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch {BATCH}, "
          f"median of {repeats}")  # fmt: skip
    rows = [run_scale(scale, count, repeats) for scale in scales]
    headers = ["scale", "image", "requests", "e2e img/s", "forward img/s", "e2e CPU ms/img",
               "forward CPU ms/img", "forward share (CPU)"]  # fmt: skip
    print(format_table(headers, rows))


if __name__ == "__main__":
    main()
