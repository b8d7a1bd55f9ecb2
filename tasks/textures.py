"""Task of the precompute-textures stage: one dataset shard + IUV shard -> one texture shard."""

from __future__ import annotations

from dpt_core.textures import STAGE as TEXTURES_STAGE
from dpt_core.textures import precompute_textures_shard
from tasks.policy import TAG_IO, storage_task

__all__ = ["TEXTURES_STAGE", "precompute_textures_task"]


@storage_task(
    name="precompute-textures-shard", tags=[TAG_IO], task_run_name="textures-{shard_index}"
)
def precompute_textures_task(
    root: str, dataset: str, shard_index: int, n: int, source: str, overwrite: bool = False
) -> dict:
    """Partial atlases (``n`` texels per tile side) of one shard; its summary dict."""
    return precompute_textures_shard(root, dataset, shard_index, n, source, overwrite)
