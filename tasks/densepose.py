"""Task of the extract-densepose stage: one dataset shard -> one IUV shard."""

from __future__ import annotations

from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.stage import STAGE as EXTRACT_STAGE
from dpt_core.densepose.stage import extract_shard
from tasks.policy import TAG_IO, storage_task

__all__ = ["EXTRACT_STAGE", "extract_shard_task"]


@storage_task(name="extract-densepose-shard", tags=[TAG_IO], task_run_name="extract-{shard_index}")
def extract_shard_task(root: str, dataset: str, shard_index: int, options: ExtractOptions) -> dict:
    """IUV shard of dataset shard ``shard_index`` (skipped when committed); its summary dict.

    Flows add the ``gpu`` tag when DensePose R-CNN runs on a CUDA device.
    """
    return extract_shard(root, dataset, shard_index, options)
