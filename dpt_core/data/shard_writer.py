"""Write one planned shard: tar, Parquet manifest, ``_stats.json``, stage marker (last).

Bad samples become :class:`~dpt_core.data.layouts.Rejected` records in the shard's stats;
only a whole-shard failure (storage down, a bug) raises.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import fsspec

from dpt_core import storage
from dpt_core.data.images import ImageRejected, prepare_image
from dpt_core.data.layouts import Rejected, SourceSample
from dpt_core.data.manifest import (
    MANIFEST_SCHEMA,
    dumps,
    manifest_row,
    sample_json,
    shard_stats_url,
)
from dpt_core.data.planning import ShardPlan, ShardResult
from dpt_core.data.shards import shard_manifest_url, write_manifest, write_shard

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 256 * 1024 * 1024  # inputs larger than this are rejected unread


class SourceReader:
    """Reads source URLs through :func:`storage.url_to_fs`, resolving each protocol once."""

    def __init__(self) -> None:
        self._filesystems: dict[str, fsspec.AbstractFileSystem] = {}

    def read(self, url: str) -> bytes:
        """Whole file at ``url``; FileNotFoundError naming ``url`` when missing."""
        protocol = fsspec.core.split_protocol(url)[0] or "file"
        if protocol not in self._filesystems:
            self._filesystems[protocol] = storage.url_to_fs(url)[0]
        fs = self._filesystems[protocol]
        try:
            return fs.cat_file(fs._strip_protocol(url))
        except FileNotFoundError:
            raise FileNotFoundError(f"no such file: {url}") from None


def build_sample(
    plan: ShardPlan, sample: SourceSample, reader: SourceReader | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(shard sample dict, manifest row) for one source; raises ImageRejected/OSError."""
    if sample.size > MAX_FILE_BYTES:
        raise ImageRejected("bad_size", f"{sample.size} bytes on disk > {MAX_FILE_BYTES}")
    reader = reader or SourceReader()
    image = prepare_image(reader.read(sample.url), plan.normalize)
    members: dict[str, Any] = {
        "__key__": sample.key,
        image.ext: image.data,
        "json": sample_json(sample, image, plan.dataset, plan.layout),
    }
    for ext, url in sample.extras.items():
        members[ext] = reader.read(url)
    digest = hashlib.sha256(image.data).hexdigest()
    exts = [k for k in members if k != "__key__"]
    return members, manifest_row(sample, image, plan.stem, digest, exts)


def _samples(
    plan: ShardPlan, rows: list[dict[str, Any]], rejected: list[Rejected]
) -> Iterator[dict[str, Any]]:
    """Stream good samples for the tar writer; collect manifest rows and rejections."""
    reader = SourceReader()
    for sample in plan.samples:
        try:
            members, row = build_sample(plan, sample, reader)
        except ImageRejected as exc:
            rejected.append(Rejected(sample.url, exc.reason, exc.detail, sample.key))
        except FileNotFoundError as exc:
            rejected.append(Rejected(sample.url, "missing", str(exc), sample.key))
        except (PermissionError, IsADirectoryError) as exc:
            rejected.append(Rejected(sample.url, "read_error", str(exc), sample.key))
        else:
            rows.append(row)
            yield members


def committed_result(plan: ShardPlan) -> ShardResult | None:
    """The recorded result when the shard is committed with this fingerprint, else None."""
    stats_url = shard_stats_url(plan.shard_url)
    if not storage.is_committed(plan.shard_url, plan.fingerprint):
        return None
    if not (storage.exists(stats_url) and storage.exists(shard_manifest_url(plan.shard_url))):
        return None
    stats = json.loads(storage.read_bytes(stats_url))
    if stats.get("fingerprint") != plan.fingerprint:
        return None
    rejected = tuple(Rejected(**r) for r in stats["rejected"])
    return ShardResult(
        plan.shard_url, plan.index, stats["count"], stats["nbytes"], stats["sha256"], True, rejected
    )


def write_dataset_shard(plan: ShardPlan, overwrite: bool = False) -> ShardResult:
    """Write the shard of ``plan`` unless committed with the same fingerprint (or overwrite)."""
    if not overwrite:
        done = committed_result(plan)
        if done is not None:
            logger.info("%s: committed with the same fingerprint, skipped", plan.shard_url)
            return done
    rows: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    info = write_shard(plan.shard_url, _samples(plan, rows, rejected))
    write_manifest(shard_manifest_url(plan.shard_url), rows, MANIFEST_SCHEMA)
    stats = {
        "shard": plan.stem,
        "fingerprint": plan.fingerprint,
        "count": info.count,
        "nbytes": info.nbytes,
        "sha256": info.sha256,
        "rejected": [{k: storage.redact(v) for k, v in asdict(r).items()} for r in rejected],
    }
    storage.write_bytes(shard_stats_url(plan.shard_url), dumps(stats))
    storage.mark_committed(plan.shard_url, plan.fingerprint, count=info.count, sha256=info.sha256)
    logger.info("%s: %d written, %d rejected", plan.shard_url, info.count, len(rejected))
    return ShardResult(
        plan.shard_url, plan.index, info.count, info.nbytes, info.sha256, False, tuple(rejected)
    )
