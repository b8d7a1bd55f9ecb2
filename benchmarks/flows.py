"""Benchmark the flows: render-batch on Dask at 1 vs 2 workers, and Prefect's cost per task.

* **Scale-out**: the ``render-batch`` flow (plan task + one render task per output shard)
  with a Dask task runner connected to a standing local cluster of 1, then 2 worker processes
  (one thread each, warm: each has rendered once). Images/s of whole flow runs; the goal is
  >= 1.7x at 2 workers. Beside it, the ceiling of the machine as it is loaded right now: the
  same render shards through ``dpt_core.render.render_shard`` in a plain process pool of 1 and
  2 processes (one torch thread each, no Prefect, no Dask).
* **Overhead per task**: a flow mapping no-op tasks (thread pool and Dask) against the work
  in one shard: render and texture seconds per image, so the shard size at which Prefect's
  cost stays under 5 % of the work follows.

Inputs: a studio data set at the scale's image size (sharded, studio IUVs, textures), its
test pairs, and a randomly initialised generator in the training checkpoint format (speed
does not depend on the weights). Prefect runs against a local test server.

    .venv/bin/python benchmarks/flows.py            # demo scale, 96 renders, 3 repeats
    .venv/bin/python benchmarks/flows.py --quick    # tiny scale, 32 renders, 1 repeat
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from _prefect_cost import task_overhead
from _timing import format_table

# This script is named flows.py: once _timing is in, its folder leaves sys.path so that
# `import flows` finds the package, not this file.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import torch  # noqa: E402
from distributed import LocalCluster  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402
from prefect_dask import DaskTaskRunner  # noqa: E402

from dpt_core import storage  # noqa: E402
from dpt_core.data.pairs import make_pairs  # noqa: E402
from dpt_core.data.stage import ShardConfig, shard_dataset  # noqa: E402
from dpt_core.densepose.options import ExtractOptions  # noqa: E402
from dpt_core.densepose.stage import extract_dataset  # noqa: E402
from dpt_core.models import DensePoseTransfer, get_scale  # noqa: E402
from dpt_core.render import RenderJob, pairs_requests, plan_render, render_shard  # noqa: E402
from dpt_core.studio import generate_dataset  # noqa: E402
from dpt_core.textures import precompute_textures_shard  # noqa: E402
from dpt_core.train.checkpoint import save_checkpoint  # noqa: E402
from flows.render_batch import render_batch_flow  # noqa: E402
from flows.runners import current_api_url  # noqa: E402

sys.path.append(_HERE)  # back, last: Dask's worker processes re-import this script

OVERHEAD_SHARE = 0.05


def build_root(base: str, scale: str, identities: int) -> tuple[str, str]:
    """(root, checkpoint URL): studio data, shards of 16, studio IUVs, pairs, a checkpoint."""
    size = get_scale(scale).image_size
    studio, root = os.path.join(base, "studio"), os.path.join(base, "root")
    generate_dataset(studio, identities, poses=3, views=4, size=size, seed=0)
    shard_dataset("studio", studio, root, "studio", ShardConfig(max_count=16))
    extract_dataset(root, "studio", ExtractOptions(source="studio"))
    make_pairs(root, "studio", test_fraction=0.5)
    torch.manual_seed(0)
    generator = DensePoseTransfer.from_config(scale)
    payload = {
        "stage": "blending",
        "scale": get_scale(scale).model_dump(mode="json"),
        "models": {"generator": generator.state_dict()},
    }
    return root, save_checkpoint(storage.join(root, "runs", "bench"), 1, payload)


def render_rate(root: str, checkpoint: str, address: str, tag: str, count: int,
                repeats: int) -> tuple[float, float]:  # fmt: skip
    """(median images/s, mean 1-min load average) of render-batch flow runs on the cluster at
    ``address`` (warmed by one small run first: model loaded in its workers)."""
    render = render_batch_flow.with_options(task_runner=DaskTaskRunner(address=address))
    render(root, checkpoint, name=f"warm-{tag}", limit=16, shard_size=2)
    rates, loads = [], []
    for r in range(repeats):
        started = time.perf_counter()
        result = render(root, checkpoint, name=f"{tag}-{r}", limit=count,
                        shard_size=max(1, count // 8))  # fmt: skip
        rates.append(result["samples"] / (time.perf_counter() - started))
        loads.append(os.getloadavg()[0])
        assert result["samples"] == count, result
    return statistics.median(rates), statistics.mean(loads)


def _one_thread() -> None:
    torch.set_num_threads(1)


def pool_rate(root: str, checkpoint: str, workers: int, count: int, repeats: int) -> float:
    """Median images/s of the render shards of a planned set in a plain process pool."""
    with ProcessPoolExecutor(workers, get_context("spawn"), initializer=_one_thread) as pool:
        warm = RenderJob(root, checkpoint, f"pool-warm{workers}", run="bench", shard_size=2)
        plan_render(warm, pairs_requests(warm, "test", 4 * workers))
        list(pool.map(render_shard, [warm] * 2 * workers, range(2 * workers)))
        rates = []
        for r in range(repeats):
            job = RenderJob(root, checkpoint, f"pool{workers}-{r}", run="bench",
                            shard_size=max(1, count // 8))  # fmt: skip
            started = time.perf_counter()
            shards = plan_render(job, pairs_requests(job, "test", count))["shards"]
            done = list(pool.map(render_shard, [job] * shards, range(shards)))
            rates.append(sum(d["count"] for d in done) / (time.perf_counter() - started))
    return statistics.median(rates)


def per_image_work(root: str, scale: str) -> dict[str, float]:
    """Seconds per image of one shard's work: textures (scatter) and render (from the run)."""
    started = time.perf_counter()
    summary = precompute_textures_shard(root, "studio", 0, get_scale(scale).atlas_n, overwrite=True)
    return {"textures": (time.perf_counter() - started) / summary["count"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny scale, 32 renders, 1 repeat")
    parser.add_argument("--renders", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    scale, count, repeats = ("tiny", 32, 1) if args.quick else ("demo", args.renders, args.repeats)
    print(f"{os.cpu_count()} cores, torch {torch.__version__}; scale {scale}, {count} renders, "
          f"median of {repeats}")  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="dpt-bench-flows-") as base,
        prefect_test_harness(server_startup_timeout=90),
    ):
        root, checkpoint = build_root(base, scale, identities=max(4, count // 12))
        env = {"PREFECT_API_URL": current_api_url(), "PREFECT_LOGGING_LEVEL": "WARNING"}
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, env=env) as cluster:  # fmt: skip
            address, rates = cluster.scheduler_address, {}
            runners = {"thread": lambda: ThreadPoolTaskRunner(max_workers=6),
                       "dask": lambda: DaskTaskRunner(address=address)}  # fmt: skip
            overhead = {name: task_overhead(make, repeats) for name, make in runners.items()}
            for workers in (1, 2):
                cluster.scale(workers)
                cluster.wait_for_workers(workers)
                rates[workers] = render_rate(root, checkpoint, address, f"w{workers}", count,
                                             repeats)  # fmt: skip
        pools = {w: pool_rate(root, checkpoint, w, count, repeats) for w in (1, 2)}
        base_rate = rates[1][0]
        headers = ["workers", "render-batch img/s (dask)", "speed-up", "load avg (1 min)",
                   "plain pool img/s", "pool speed-up"]  # fmt: skip
        table = [[w, r, r / base_rate, load, pools[w], pools[w] / pools[1]]
                 for w, (r, load) in rates.items()]  # fmt: skip
        print(format_table(headers, table))
        work = {**per_image_work(root, scale), "render (1 worker)": 1.0 / base_rate}
    rows = [[stage, 1e3 * s, *(o / (OVERHEAD_SHARE * s) for o in overhead.values())]
            for stage, s in work.items()]  # fmt: skip
    print(format_table(["Prefect overhead per task", "ms"],
                       [[r, 1e3 * o] for r, o in overhead.items()]))  # fmt: skip
    print(format_table(["stage", "work ms/img", "min shard (thread, <5 %)",
                        "min shard (dask, <5 %)"], rows))  # fmt: skip


if __name__ == "__main__":
    main()
