"""The pose bank: the target IUVs that generated images are rendered in.

``--pose-bank URL`` is one of:

* an IUV shard folder ``ROOT/densepose/NAME/SOURCE`` (what the extract stage writes, from any
  data set): used in place when ROOT is the work root, else its shards (tar, Parquet manifest,
  marker) are copied to ``WORK/densepose/posebank-NAME/SOURCE`` (a copy whose marker equals the
  original's is kept, so a re-run copies nothing);
* a studio data set folder (``studio.json``, written by ``dpt studio generate``): studio poses,
  sharded into ``WORK/datasets/posebank-NAME`` with their ground-truth IUVs extracted.

Only the IUVs are used: no bank image ever reaches DST. The bank's manifests give each pose its
key, size and body box (for the crop of the render, see ``dpt_core.reid.crop``).
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass

import pyarrow as pa

from dpt_core import storage
from dpt_core.data import shards
from dpt_core.data.planning import ShardConfig, default_name
from dpt_core.data.stage import shard_dataset
from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.stage import extract_dataset

logger = logging.getLogger(__name__)

PREFIX = "posebank-"
POSE_COLUMNS = ["key", "height", "width", "bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1"]


@dataclass(frozen=True)
class PoseBank:
    """IUV shards ``ROOT/densepose/DATASET/SOURCE`` in the work root; ``origin``: the URL given."""

    root_url: str
    dataset: str
    source: str
    origin: str

    @property
    def iuv_url(self) -> str:
        return storage.join(self.root_url, "densepose", self.dataset, self.source)


def same_location(a: str, b: str) -> bool:
    """Whether two URLs name the same folder (local paths compared absolute, ``file://`` off)."""

    def norm(url: str) -> str:
        url = url.removeprefix("file://")
        return url.rstrip("/") if "://" in url else os.path.abspath(url)

    return norm(a) == norm(b)


def _copy_file(src_url: str, dst_url: str) -> None:
    with storage.open_read(src_url) as source, storage.open_atomic(dst_url) as sink:
        shutil.copyfileobj(source, sink, 1 << 22)


def copy_iuv_shards(src_folder: str, dst_folder: str) -> int:
    """Copy every shard of ``src_folder`` with its manifest, marker last; returns the copies."""
    copied = 0
    for tar_url in shards.shard_urls(src_folder):
        name = tar_url.rsplit("/", 1)[-1]
        dst_tar = storage.join(dst_folder, name)
        marker = storage.marker_url(tar_url)
        has_marker = storage.exists(marker)
        if has_marker and storage.exists(storage.marker_url(dst_tar)):
            same = storage.read_bytes(marker) == storage.read_bytes(storage.marker_url(dst_tar))
            if same and storage.size(dst_tar) == storage.size(tar_url):
                continue
        for src in (tar_url, shards.shard_manifest_url(tar_url)):
            _copy_file(src, storage.join(dst_folder, src.rsplit("/", 1)[-1]))
        if has_marker:
            _copy_file(marker, storage.marker_url(dst_tar))
        copied += 1
    logger.info("pose bank: %d shard(s) copied from %s to %s", copied, src_folder, dst_folder)
    return copied


def ingest_pose_bank(url: str, work_root: str, max_count: int = 1000) -> PoseBank:
    """The bank at ``url`` (see the module docstring) ready in ``work_root``; resumable.

    FileNotFoundError naming ``url`` when it is neither kind.
    """
    if storage.exists(storage.join(url, "studio.json")):
        name = PREFIX + default_name(url, "studio")
        shard_dataset("studio", url, work_root, name, ShardConfig(max_count=max_count))
        extract_dataset(work_root, name, ExtractOptions(source="studio", mode="largest"))
        return PoseBank(work_root, name, "studio", url)
    parts = url.rstrip("/").rsplit("/", 3)
    if len(parts) == 4 and parts[1] == "densepose" and storage.exists(url):
        root, _, name, source = parts
        if shards.shard_urls(url):
            if same_location(root, work_root):
                return PoseBank(work_root, name, source, url)
            bank = PoseBank(work_root, PREFIX + name, source, url)
            copy_iuv_shards(url, bank.iuv_url)
            return bank
    raise FileNotFoundError(
        f"pose_bank: {url} is neither an IUV shard folder (ROOT/densepose/NAME/SOURCE with "
        "NAME-00000.tar shards) nor a studio data set folder (with studio.json)"
    )


def bank_poses(bank: PoseBank) -> pa.Table:
    """Every pose of the bank (POSE_COLUMNS: key, IUV size, body box), sorted by key.

    ValueError naming the bank when it holds no pose.
    """
    tables = []
    for url in shards.shard_urls(bank.iuv_url):
        manifest = shards.shard_manifest_url(url)
        if storage.exists(manifest):
            tables.append(shards.read_manifest(manifest).select(POSE_COLUMNS))
    if not tables or sum(t.num_rows for t in tables) == 0:
        raise ValueError(f"pose_bank: no IUV in {bank.iuv_url} (from {bank.origin})")
    return pa.concat_tables(tables).sort_by("key")
