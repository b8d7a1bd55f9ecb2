"""Benchmark: how far renders move with the batch size, the thread count and the CPU's kernels.

Each setting renders the same requests in a child process: batch 8 on 2 threads (the reference),
batch 3, batch 1, 1 thread, and the kernels of an AVX2-only and of a baseline x86-64 CPU on this
machine (``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``, ``MKL_ENABLE_INSTRUCTIONS``, as
``make test-determinism`` sets them). Every member (blended, predicted, warped) is compared with
the reference: the largest difference in grey levels and the share of pixels that differ,
against ``RENDER_TOLERANCE``. Without ``--checkpoint``: a studio set at ``--scale`` (tiny) and a
randomly initialised generator; with it (e.g. after ``make demo``), that trained generator on
the ``studio`` data set of ``--root``.

    .venv/bin/python benchmarks/agreement.py             # 48 requests, random tiny generator
    .venv/bin/python benchmarks/agreement.py --quick     # 12 requests
    .venv/bin/python benchmarks/agreement.py --scale demo --requests 24
    .venv/bin/python benchmarks/agreement.py --root data/demo \
        --checkpoint data/demo/runs/studio-demo     # the generator `make demo` trained
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np
import torch
from _timing import format_table
from render import build_root, same_person_requests

from dpt_core import storage
from dpt_core.data import shards
from dpt_core.metrics import RENDER_TOLERANCE, agreement
from dpt_core.render import RenderJob, render_requests, run_of_checkpoint

KERNELS = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "baseline": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                 "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
}  # fmt: skip
SETTINGS = [  # (label, batch size, threads, kernels); the first is the reference
    ("batch 8, 2 threads", 8, 2, None), ("batch 3", 3, 2, None), ("batch 1", 1, 2, None),
    ("1 thread", 8, 1, None), ("AVX2 kernels", 8, 2, "avx2"),
    ("baseline kernels", 8, 2, "baseline"),
]  # fmt: skip
MEMBERS = ("png", "pred.png", "warp.png")


def render_child(spec: dict) -> None:
    """Child process: render ``spec['requests']`` with its batch size and threads."""
    torch.set_num_threads(spec["threads"])
    job = RenderJob(spec["root"], spec["checkpoint"], spec["name"], branches=("pred", "warp"),
                    batch_size=spec["batch"])  # fmt: skip
    summary = render_requests(job, [tuple(r) for r in spec["requests"]])
    print(json.dumps({"url": job.url, "capability": torch.backends.cpu.get_cpu_capability(),
                      "samples": summary.samples}))  # fmt: skip


def render_setting(spec: dict, kernels: str | None) -> dict[str, np.ndarray]:
    """``{member: (B, H, W, 3)}`` of one setting, rendered in a child with its kernel switches."""
    env = {**os.environ, **KERNELS.get(kernels or "", {})}
    cmd = [sys.executable, __file__, "--child", json.dumps(spec)]
    child = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if child.returncode:
        raise RuntimeError(f"{spec['name']}: {child.stderr[-2000:]}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    samples = sorted((s for u in shards.shard_urls(result["url"]) for s in shards.iter_shard(u)),
                     key=lambda s: s["__key__"])  # fmt: skip
    decode = lambda png: cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)  # noqa: E731
    arrays = {m: np.stack([decode(s[m]) for s in samples]) for m in MEMBERS}
    return {"capability": result["capability"], **arrays}


def compare(root: str, checkpoint: str, requests: list[tuple[str, str]]) -> list[list[object]]:
    """One table row per setting (but the reference) and member."""
    rows, settings = [], []
    for i, (label, batch, threads, kernels) in enumerate(SETTINGS):
        spec = {"root": root, "checkpoint": checkpoint, "name": f"agree-{i}", "batch": batch,
                "threads": threads, "requests": requests}  # fmt: skip
        settings.append((label, render_setting(spec, kernels)))
    reference = settings[0][1]
    for label, got in settings[1:]:
        for member in MEMBERS:
            found = agreement(got[member], reference[member])
            figures = [f"{found.max_abs:g}", f"{100 * found.fraction:.4f}"]
            rows.append(
                [label, got["capability"], member, *figures, found.within(RENDER_TOLERANCE)]
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="12 requests")
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--scale", default="tiny", choices=("tiny", "demo"), help="no checkpoint")
    parser.add_argument("--root", help="a root with a sharded `studio` data set and its IUVs")
    parser.add_argument("--checkpoint", help="a trained run or .pt under ROOT/runs/")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        render_child(json.loads(args.child))
        return
    if bool(args.root) != bool(args.checkpoint):
        parser.error("--root and --checkpoint go together")
    count = 12 if args.quick else args.requests
    with tempfile.TemporaryDirectory(prefix="dpt-bench-agreement-") as base:
        if args.root:
            root, checkpoint = args.root, args.checkpoint
        else:
            root, checkpoint = build_root(base, args.scale, identities=max(2, count // 12 + 1))
        requests = same_person_requests(root, count)
        print(f"{len(requests)} requests; tolerance: {RENDER_TOLERANCE}")
        rows = compare(root, checkpoint, requests)
        if args.root:  # leave the user's root as it was
            run = run_of_checkpoint(checkpoint)
            for i in range(len(SETTINGS)):
                url = storage.join(root, "renders", run, f"agree-{i}")
                storage.url_to_fs(url)[0].rm(url, recursive=True)
    headers = ["setting", "torch kernels", "member", "max grey levels", "% pixels differ",
               "within tolerance"]  # fmt: skip
    print(format_table(headers, rows))


if __name__ == "__main__":
    main()
