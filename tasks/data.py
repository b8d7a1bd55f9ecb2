"""Tasks of the data plane: plan, write and finalise dataset shards; list shards; make pairs."""

from __future__ import annotations

from dpt_core import storage
from dpt_core.data import shard_urls
from dpt_core.data.manifest import STAGE as SHARD_STAGE
from dpt_core.data.manifest import shards_folder
from dpt_core.data.pairs import PairsSummary, make_pairs
from dpt_core.data.shards import shard_index
from dpt_core.data.stage import (
    DatasetPlan,
    DatasetSummary,
    ShardConfig,
    ShardPlan,
    ShardResult,
    finalize_dataset,
    plan_shards,
    shared_plan_url,
    write_dataset_shard,
)
from tasks.policy import TAG_IO, storage_task

__all__ = [
    "SHARD_STAGE",
    "dataset_shards",
    "finalize_shards",
    "make_pairs_task",
    "plan_dataset",
    "write_shard_task",
]


@storage_task(name="plan-shards")
def plan_dataset(
    layout: str, src: str, root: str, dataset: str, max_count: int, max_bytes: int
) -> DatasetPlan:
    """Scan ``src`` and assign its samples to shards (metadata only, no image is read); the
    samples go to a plan file under ``root`` that each shard's task reads its part of."""
    config = ShardConfig(max_count=max_count, max_bytes=max_bytes)
    return plan_shards(layout, src, root, dataset, config, shared_plan_url(root, dataset))


@storage_task(name="write-dataset-shard", tags=[TAG_IO], task_run_name="write-{plan.stem}")
def write_shard_task(plan: ShardPlan, overwrite: bool = False) -> ShardResult:
    """Write one planned shard, or skip it when committed with the same fingerprint."""
    return write_dataset_shard(plan, overwrite)


@storage_task(name="finalize-dataset")
def finalize_shards(plan: DatasetPlan, results: list[ShardResult]) -> DatasetSummary:
    """Failures log and ``_stats.json`` of the data set, from every shard's result; removes
    the plan file."""
    return finalize_dataset(plan, results)


@storage_task(name="list-dataset-shards")
def dataset_shards(root: str, dataset: str) -> list[int]:
    """Indices of the committed-or-not shards under ``datasets/NAME/shards`` (sorted).

    FileNotFoundError naming the folder when the data set has no shard.
    """
    folder = shards_folder(root, dataset)
    urls = shard_urls(folder) if storage.exists(folder) else []
    if not urls:
        raise FileNotFoundError(f"no shards of data set {dataset!r} in {folder}")
    return [shard_index(url) for url in urls]


@storage_task(name="make-pairs")
def make_pairs_task(
    root: str, dataset: str, test_fraction: float, seed: int, max_per_person: int | None
) -> PairsSummary:
    """Write ``pairs/NAME/{train,test}.parquet`` from the sharded data set."""
    return make_pairs(root, dataset, test_fraction, seed, max_per_person)
