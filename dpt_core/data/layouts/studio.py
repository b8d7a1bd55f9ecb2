"""``studio``: what ``dpt studio generate`` writes (synthetic people with exact ground truth).

OUT/manifest.parquet has one row per sample (key; image, iuv and mask paths relative to OUT;
identity, person_id, pose, pose_index, view, yaw_deg, split). The IUV and mask PNGs travel
with the sample as-is, as ``KEY.iuv.png`` and ``KEY.mask.png`` members.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq

from dpt_core import storage
from dpt_core.data.layouts.base import FileEntry, Rejected, SourceSample, make_key, walk_files

MANIFEST_FILE = "manifest.parquet"
REQUIRED_COLUMNS = ("key", "image", "iuv", "mask", "person_id")
META_COLUMNS = ("identity", "pose", "pose_index", "view", "yaw_deg")
EXTRA_MEMBERS = {"iuv.png": "iuv", "mask.png": "mask"}


def read_studio_manifest(src_url: str) -> list[dict[str, Any]]:
    """Rows of OUT/manifest.parquet sorted by key; ValueError naming a missing column."""
    url = storage.join(src_url, MANIFEST_FILE)
    table = pq.read_table(io.BytesIO(storage.read_bytes(url)))
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"{url}: missing column(s) {', '.join(missing)}")
    return sorted(table.to_pylist(), key=lambda row: str(row["key"]))


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
        rows = read_studio_manifest(src_url)
        files = {entry.rel: entry for entry in walk_files(src_url)}
        for row in rows:
            source = storage.join(src_url, str(row["image"]))
            try:
                yield _sample(src_url, row, files)
            except FileNotFoundError as exc:
                yield Rejected(source, "missing", str(exc), key=str(row["key"]))
            except ValueError as exc:
                yield Rejected(source, "bad_name", str(exc), key=str(row["key"]))
