"""Prefect's cost for ``benchmarks/scale.py``, in its own process with a test server.

    python -c "import _scale_prefect; _scale_prefect.main()" SRC WORK COUNT REPEATS

(run from the project root with the benchmarks folder on ``sys.path``: a script in that
folder would import ``benchmarks/flows.py`` as ``flows``). Measures the thread runner's
seconds per task (no-op tasks) and the footprint of two ``preprocess`` flow runs over the
same ``COUNT`` studio samples, in shards of COUNT / 2 and COUNT / 10 samples; prints one JSON
line with both and the per-task and fixed parts (a line through the two runs).
"""

from __future__ import annotations

import json
import os
import shutil
import sys

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from _prefect_cost import flow_footprint, task_overhead
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.testing.utilities import prefect_test_harness

from flows.preprocess import preprocess_flow

ATLAS_N = 16  # the tiny scale's


def _preprocess(src: str, root: str, count: int, max_count: int) -> dict:
    """Footprint of one preprocess run over ``count`` samples in shards of ``max_count``."""
    shutil.rmtree(root, ignore_errors=True)
    run = lambda: preprocess_flow(src, root, "studio", "studio", "studio", n=ATLAS_N,  # noqa: E731
                                  max_count=max_count)  # fmt: skip
    return {"max_count": max_count, **flow_footprint(run), "shards": -(-count // max_count)}


def main() -> None:
    src, work, count, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with prefect_test_harness(server_startup_timeout=90):
        overhead = task_overhead(lambda: ThreadPoolTaskRunner(max_workers=6), repeats)
        runs = [_preprocess(src, os.path.join(work, f"prefect-{m}"), count, m)
                for m in (count // 2, count // 10)]  # fmt: skip
    big, small = runs[1], runs[0]
    tasks = big["task_run"] - small["task_run"]
    # A line through the two runs; a quantity that does not grow with tasks (HTTP calls: task
    # states travel as events over a websocket) is the mean of the two runs.
    per_task = {k: max(0.0, (big[k] - small[k]) / tasks) for k in ("api_calls", "bytes", "events")}
    fixed = {k: (small[k] + big[k]) / 2 if not v else small[k] - v * small["task_run"]
             for k, v in per_task.items()}  # fmt: skip
    per_shard = tasks / (big["shards"] - small["shards"])
    fit = {
        "tasks_per_shard": per_shard,
        "tasks_fixed": small["task_run"] - per_shard * small["shards"],
    }
    print(
        json.dumps(
            {"overhead_s": overhead, "runs": runs, "per_task": per_task, "fixed": fixed, **fit}
        )
    )
