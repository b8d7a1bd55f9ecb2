"""Tasks of augment-reid: prepare (ingest + plan), originals, one identity shard, finish."""

from __future__ import annotations

from dpt_core.reid.config import AugmentConfig
from dpt_core.reid.plan import STAGE as REID_STAGE
from dpt_core.reid.plan import AugmentPlan
from dpt_core.reid.stage import (
    AugmentSummary,
    augment_shard,
    copy_originals,
    finalize_augment,
    prepare,
)
from tasks.policy import TAG_IO, storage_task

__all__ = [
    "REID_STAGE",
    "augment_shard_task",
    "copy_originals_task",
    "finalize_augment_task",
    "prepare_augment_task",
]


@storage_task(name="prepare-reid-augment")
def prepare_augment_task(config: AugmentConfig) -> AugmentPlan:
    """Shard SRC and extract its IUVs, ingest the pose bank (all resumable); write the plan."""
    return prepare(config)


@storage_task(name="copy-reid-originals", tags=[TAG_IO])
def copy_originals_task(plan: AugmentPlan) -> dict[str, int]:
    """DST's original train / gallery / query files; files already there are kept."""
    return copy_originals(plan)


@storage_task(name="augment-reid-shard", tags=[TAG_IO], task_run_name="augment-reid-{index}")
def augment_shard_task(plan: AugmentPlan, index: int) -> dict:
    """Render and write identity shard ``index`` (skipped when committed); its summary dict.

    Flows add the ``gpu`` tag when the plan renders on a CUDA device.
    """
    return augment_shard(plan, index)


@storage_task(name="finalize-reid-augment")
def finalize_augment_task(
    plan: AugmentPlan, results: list[dict], originals: dict[str, int]
) -> AugmentSummary:
    """``DST/augment_manifest.parquet`` and ``DST/augment.json`` from every identity shard."""
    return finalize_augment(plan, results, originals)
