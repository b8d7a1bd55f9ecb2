"""Per-shard Parquet manifests, per-sample JSON members and dataset statistics.

Where things live under a storage root (``DST_URL``)::

    datasets/NAME/shards/NAME-00000.tar           KEY.png|jpg, KEY.json (+ KEY.iuv.png, ...)
    datasets/NAME/shards/NAME-00000.parquet       one row per sample, MANIFEST_SCHEMA
    datasets/NAME/shards/NAME-00000_stats.json    the shard's counts and rejected inputs
    datasets/NAME/_stats.json                     the dataset summary, written last
    failures/shard/NAME.parquet                   every rejected input with its reason
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dpt_core import storage
from dpt_core.data.images import PreparedImage
from dpt_core.data.layouts.base import SourceSample
from dpt_core.data.shards import read_manifest, shard_manifest_url, shard_urls

STAGE = "shard"
MANIFEST_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("shard", pa.string()),
        ("source", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("format", pa.string()),  # "png" | "jpg": the stored image member's extension
        ("bytes", pa.int64()),
        ("sha256", pa.string()),
        ("person_id", pa.string()),
        ("view", pa.string()),
        ("camera", pa.int32()),
        ("split", pa.string()),
        ("flags", pa.string()),  # comma-separated, e.g. "junk"
        ("orig_width", pa.int32()),
        ("orig_height", pa.int32()),
        ("orig_format", pa.string()),
        ("orig_mode", pa.string()),
        ("transform", pa.string()),  # "none" or ops joined by "+"
        ("scale", pa.float64()),
        ("pad_x", pa.int32()),
        ("pad_y", pa.int32()),
        ("members", pa.string()),  # comma-separated member extensions
        ("meta", pa.string()),  # layout-specific fields as JSON
    ]
)


def dataset_url(root_url: str, name: str) -> str:
    """``ROOT/datasets/NAME``."""
    return storage.join(root_url, "datasets", name)


def split_dataset_url(url: str) -> tuple[str, str]:
    """``ROOT/NAME`` or ``ROOT/datasets/NAME`` -> (ROOT, NAME)."""
    head, _, name = url.rstrip("/").rpartition("/")
    if not head or not name:
        raise ValueError(f"expected DST_URL/NAME, got {url!r}")
    if head.endswith("/datasets"):
        head = head[: -len("/datasets")]
    return head, name


def shards_folder(root_url: str, name: str) -> str:
    """``ROOT/datasets/NAME/shards``."""
    return storage.join(root_url, "datasets", name, "shards")


def shard_stats_url(shard_url: str) -> str:
    """``.../NAME-00000.tar`` -> ``.../NAME-00000_stats.json``."""
    return shard_url[: -len(".tar")] + "_stats.json"


def dumps(obj: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, compact, UTF-8): same object, same bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sample_json(sample: SourceSample, image: PreparedImage, dataset: str, layout: str) -> bytes:
    """The ``KEY.json`` member: ids, view, camera, split, source path and layout fields."""
    record = {
        "key": sample.key,
        "dataset": dataset,
        "layout": layout,
        "source": storage.redact(sample.url),
        "person_id": sample.person_id,
        "view": sample.view,
        "camera": sample.camera,
        "split": sample.split,
        "flags": list(sample.flags),
        "width": image.width,
        "height": image.height,
        "transform": image.transform,
        "scale": image.scale,
        "pad": [image.pad_x, image.pad_y],
        **{k: v for k, v in sample.meta.items() if k not in ("key", "source")},
    }
    return dumps(record)


def manifest_row(
    sample: SourceSample, image: PreparedImage, shard: str, sha256: str, members: Iterable[str]
) -> dict[str, Any]:
    """One manifest row (MANIFEST_SCHEMA) for a stored sample."""
    return {
        "key": sample.key,
        "shard": shard,
        "source": storage.redact(sample.url),
        "width": image.width,
        "height": image.height,
        "format": image.ext,
        "bytes": len(image.data),
        "sha256": sha256,
        "person_id": sample.person_id,
        "view": sample.view,
        "camera": sample.camera,
        "split": sample.split,
        "flags": ",".join(sample.flags),
        "orig_width": image.orig_width,
        "orig_height": image.orig_height,
        "orig_format": image.orig_format,
        "orig_mode": image.orig_mode,
        "transform": image.transform,
        "scale": image.scale,
        "pad_x": image.pad_x,
        "pad_y": image.pad_y,
        "members": ",".join(sorted(members)),
        "meta": dumps(sample.meta).decode(),
    }


def dataset_shard_urls(root_url: str, name: str) -> list[str]:
    """The shard tars of dataset NAME in shard order (FileNotFoundError when it has none)."""
    urls = shard_urls(shards_folder(root_url, name))
    if not urls:
        raise FileNotFoundError(
            f"dataset {name!r} has no shards in {shards_folder(root_url, name)}"
        )
    return urls


def read_dataset_manifest(root_url: str, name: str, columns: list[str] | None = None) -> pa.Table:
    """All shard manifests of dataset NAME concatenated in shard order."""
    urls = dataset_shard_urls(root_url, name)
    tables = [read_manifest(shard_manifest_url(u), columns or None) for u in urls]
    return pa.concat_tables(tables)


def read_dataset_stats(root_url: str, name: str) -> dict[str, Any] | None:
    """The dataset's ``_stats.json`` as a dict, or None before the first complete run."""
    url = storage.join(dataset_url(root_url, name), "_stats.json")
    return json.loads(storage.read_bytes(url)) if storage.exists(url) else None


def list_datasets(root_url: str) -> list[str]:
    """Names of the datasets under ``ROOT/datasets`` (sorted)."""
    folder = storage.join(root_url, "datasets")
    if not storage.exists(folder):
        raise FileNotFoundError(f"no datasets folder under {root_url}")
    return [u.rstrip("/").rsplit("/", 1)[-1] for u in storage.ls(folder)]


def count_rows(parquet_url: str) -> int:
    """Rows of a Parquet file, read from its footer only."""
    with storage.open_read(parquet_url) as stream:
        return pq.ParquetFile(stream).metadata.num_rows


def describe_dataset(root_url: str, name: str) -> dict[str, Any]:
    """Shards, samples, bytes and failures by reason of one dataset, from what is on storage."""
    urls = shard_urls(shards_folder(root_url, name))
    manifests = [shard_manifest_url(u) for u in urls]
    samples = sum(count_rows(m) for m in manifests if storage.exists(m))
    failures = storage.read_failures(root_url, STAGE, name)
    stats = read_dataset_stats(root_url, name) or {}
    return {
        "name": name,
        "layout": stats.get("layout"),
        "shards": len(urls),
        "samples": samples,
        "bytes": sum(storage.size(u) for u in urls),
        "rejected": len(failures),
        "by_reason": dict(sorted(Counter(f.reason for f in failures).items())),
        "complete": bool(stats),
    }
