"""Flow ``shard-dataset``: a dataset layout -> WebDataset shards + Parquet manifests."""

from __future__ import annotations

from prefect import flow, get_run_logger, unmapped

from flows.params import DatasetName, LayoutName, PositiveInt, StorageUrl
from flows.runners import collect, default_task_runner, log_runner
from tasks.artifacts import StageCounts, failures_by_reason, publish_counts
from tasks.data import SHARD_STAGE, finalize_shards, plan_dataset, write_shard_task

FLOW_NAME = "shard-dataset"


@flow(name=FLOW_NAME, task_runner=default_task_runner())
def shard_dataset_flow(
    src: StorageUrl,
    root: StorageUrl,
    dataset: DatasetName = "studio",
    layout: LayoutName = "studio",
    max_count: PositiveInt = 1000,
    max_bytes: PositiveInt = 1_000_000_000,
    overwrite: bool = False,
) -> dict:
    """Shard the ``layout`` data set at ``src`` into ``root/datasets/DATASET``; one task per
    shard, committed shards with the same input fingerprint skipped. Returns StageCounts."""
    logger = get_run_logger()
    log_runner(logger, FLOW_NAME)
    plan = plan_dataset(layout, src, root, dataset, max_count, max_bytes)
    futures = write_shard_task.map(plan.shards, overwrite=unmapped(overwrite))
    results = collect(futures, "dataset shards")
    summary = finalize_shards(plan, results)
    rows = [
        {
            "shard": r.shard_url,
            "samples": r.count,
            "skipped": r.skipped,
            "rejected": len(r.rejected),
        }
        for r in results
    ]
    written = sum(not r.skipped for r in results)
    counts = StageCounts(
        SHARD_STAGE, dataset, len(results), written, len(results) - written,
        summary.written, failures_by_reason(root, SHARD_STAGE, dataset),
    )  # fmt: skip
    publish_counts(counts, rows)
    logger.info(counts.describe())
    return counts.as_dict()
