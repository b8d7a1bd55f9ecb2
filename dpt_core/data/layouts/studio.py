"""``studio``: what ``dpt studio generate`` writes (synthetic people with exact ground truth).

OUT/manifest.parquet has one row per sample (key; image, iuv and mask paths relative to OUT;
identity, person_id, pose, pose_index, view, yaw_deg, split). The IUV and mask PNGs travel
with the sample as-is, as ``KEY.iuv.png`` and ``KEY.mask.png`` members. The manifest is read
in batches (whole only when its rows are not in key order); the file listing is held whole.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow.parquet as pq

from dpt_core import storage
from dpt_core.data.layouts.base import FileEntry, Rejected, SourceSample, make_key, walk_files

MANIFEST_FILE = "manifest.parquet"
REQUIRED_COLUMNS = ("key", "image", "iuv", "mask", "person_id")
META_COLUMNS = ("identity", "pose", "pose_index", "view", "yaw_deg")
EXTRA_MEMBERS = {"iuv.png": "iuv", "mask.png": "mask"}
BATCH_ROWS = 4096  # manifest rows read at a time

logger = logging.getLogger(__name__)


def _open_manifest(stream: BinaryIO, url: str) -> pq.ParquetFile:
    """OUT/manifest.parquet, unread; ValueError naming a missing column."""
    manifest = pq.ParquetFile(stream)
    missing = [c for c in REQUIRED_COLUMNS if c not in manifest.schema_arrow.names]
    if missing:
        raise ValueError(f"{url}: missing column(s) {', '.join(missing)}")
    return manifest


def _sorted_by_key(manifest: pq.ParquetFile) -> bool:
    """Whether the rows are in key order already (as ``dpt studio generate`` writes them)."""
    previous = None
    for batch in manifest.iter_batches(batch_size=BATCH_ROWS, columns=["key"]):
        for key in map(str, batch.column(0).to_pylist()):
            if previous is not None and key < previous:
                return False
            previous = key
    return True


def iter_manifest_rows(manifest: pq.ParquetFile, url: str) -> Iterator[dict[str, Any]]:
    """Rows of the studio manifest sorted by key (stable): streamed ``BATCH_ROWS`` at a time
    when the file is in key order, else read whole and sorted."""
    if _sorted_by_key(manifest):
        for batch in manifest.iter_batches(batch_size=BATCH_ROWS):
            yield from batch.to_pylist()
        return
    logger.info("%s: rows not in key order; sorting them in memory", url)
    yield from sorted(manifest.read().to_pylist(), key=lambda row: str(row["key"]))


def _sample(src_url: str, row: dict[str, Any], files: dict[str, FileEntry]) -> SourceSample:
    paths = {"image": row["image"], **{ext: row[col] for ext, col in EXTRA_MEMBERS.items()}}
    missing = [p for p in paths.values() if p not in files]
    if missing:
        raise FileNotFoundError(f"missing file(s): {', '.join(map(str, missing))}")
    key, image, view = str(row["key"]), files[row["image"]], row.get("view")
    if make_key([key]) != key:
        raise ValueError(f"studio key {key!r} is not a safe sample key ([A-Za-z0-9_-])")
    return SourceSample(
        key=key,
        url=image.url,
        size=sum(files[p].size for p in paths.values()),
        version=image.version,
        person_id=row["person_id"],
        view=None if view is None else str(view),
        split=row.get("split"),
        meta={c: row[c] for c in META_COLUMNS if c in row},
        extras={ext: files[row[col]].url for ext, col in EXTRA_MEMBERS.items()},
    )


@dataclass(frozen=True)
class StudioLayout:
    """Studio samples with their IUV and mask; images are stored at their rendered size."""

    name: str = "studio"
    default_size: tuple[int, int] | None = None
    carries_extras: bool = True

    def scan(self, src_url: str) -> Iterator[SourceSample | Rejected]:
        url = storage.join(src_url, MANIFEST_FILE)
        with storage.open_read(url) as stream:
            manifest = _open_manifest(stream, url)
            files = {entry.rel: entry for entry in walk_files(src_url)}
            for row in iter_manifest_rows(manifest, url):
                source = storage.join(src_url, str(row["image"]))
                try:
                    yield _sample(src_url, row, files)
                except FileNotFoundError as exc:
                    yield Rejected(source, "missing", str(exc), key=str(row["key"]))
                except ValueError as exc:
                    yield Rejected(source, "bad_name", str(exc), key=str(row["key"]))
