"""One stage of ``benchmarks/scale.py`` in a fresh process: its time and peak memory.

    python benchmarks/_scale_stages.py STAGE '{"root": ..., ...}'

Runs the dpt_core entry point of STAGE as the ``dpt`` command does (one process, shards in
order) and prints one JSON line: wall and CPU seconds of the stage (imports excluded), RSS
after imports and peak RSS (``VmHWM``) in MiB, and the number of items it handled.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from collections.abc import Callable

BENCH_RUN = "bench"


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field)) / 1024


def shard(src: str, root: str, max_count: int) -> int:
    from dpt_core.data.stage import ShardConfig, shard_dataset

    return shard_dataset("studio", src, root, "studio", ShardConfig(max_count=max_count)).written


def extract(root: str) -> int:
    from dpt_core.densepose.options import ExtractOptions
    from dpt_core.densepose.stage import extract_dataset

    return sum(s["count"] for s in extract_dataset(root, "studio", ExtractOptions(source="studio")))


def textures(root: str, n: int) -> int:
    from dpt_core.textures import precompute_textures

    return sum(s["count"] for s in precompute_textures(root, "studio", n, "studio"))


def pairs(root: str) -> int:
    from dpt_core.data.pairs import make_pairs

    return sum(make_pairs(root, "studio", test_fraction=0.2).pairs.values())


def checkpoint(root: str, scale: str) -> str:
    """A randomly initialised generator of ``scale`` in the training checkpoint format."""
    import torch

    from dpt_core import storage
    from dpt_core.models import DensePoseTransfer, get_scale
    from dpt_core.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = DensePoseTransfer.from_config(scale)
    payload = {"stage": "blending", "models": {"generator": model.state_dict()},
               "scale": get_scale(scale).model_dump(mode="json"), "config": {}}  # fmt: skip
    return save_checkpoint(storage.join(root, "runs", BENCH_RUN), 1, payload)


def _job(root: str, ckpt: str, name: str, shard_size: int):
    from dpt_core.render import RenderJob

    return RenderJob(root, ckpt, name, run=BENCH_RUN, shard_size=shard_size)


def plan(root: str, checkpoint: str, name: str, shard_size: int, limit: int | None) -> int:
    """Render planning as the render-batch flow does it: the test pairs as requests."""
    from dpt_core.render import pairs_requests, plan_render

    job = _job(root, checkpoint, name, shard_size)
    plan_render(job, pairs_requests(job, "test", limit))
    from dpt_core.data.pairs import read_pairs

    return read_pairs(root, "studio", "test").num_rows


def render(root: str, checkpoint: str, name: str, shard_size: int, shards: int) -> int:
    """``shards`` planned shards, evenly spread over the plan, each as the flow's task renders
    it (its own input index); the number of renders."""
    import numpy as np

    from dpt_core.render import read_render_info, render_shard

    job = _job(root, checkpoint, name, shard_size)
    planned = read_render_info(job.url)["shards"]
    picked = np.unique(np.linspace(0, planned - 1, min(shards, planned)).round().astype(int))
    return sum(render_shard(job, int(i))["count"] for i in picked)


IMPORTS = {  # imported before the clock starts: a stage's time and baseline RSS exclude them
    "shard": ["dpt_core.data.stage"], "extract": ["dpt_core.densepose.stage"],
    "textures": ["dpt_core.textures"], "pairs": ["dpt_core.data.pairs"],
    "checkpoint": ["dpt_core.models"], "plan": ["dpt_core.render"], "render": ["dpt_core.render"],
}  # fmt: skip
STAGES: dict[str, Callable[..., object]] = {
    "shard": shard, "extract": extract, "textures": textures, "pairs": pairs,
    "checkpoint": checkpoint, "plan": plan, "render": render,
}  # fmt: skip


def main() -> None:
    stage, kwargs = sys.argv[1], json.loads(sys.argv[2])  # threads: OMP_NUM_THREADS
    for module in IMPORTS[stage]:
        importlib.import_module(module)
    base = _status_mib("VmRSS:")
    wall, cpu = time.perf_counter(), time.process_time()
    result = STAGES[stage](**kwargs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"stage": stage, "result": result, "wall_s": wall, "cpu_s": cpu,
                      "rss_base_mib": base, "rss_peak_mib": _status_mib("VmHWM:"),
                      "pid": os.getpid()}), flush=True)  # fmt: skip
    # Skip interpreter teardown: pyarrow's Parquet threads sometimes abort it ("terminate
    # called without an active exception", apache/arrow#34314) after the work is done.
    os._exit(0)


if __name__ == "__main__":
    main()
