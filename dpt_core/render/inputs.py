"""Where a render's inputs live: indexes of source images and IUVs by key, and reading their
members out of the shards."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq
import torch

from dpt_core import storage
from dpt_core.data import shards
from dpt_core.data.manifest import dataset_shard_urls, shards_folder
from dpt_core.iuv import decode_iuv_png
from dpt_core.render.job import INDEX_COLUMNS, RenderJob
from dpt_core.train.samples import fit_square


@dataclass(frozen=True)
class InputIndex:
    """Where one data set's samples live: ``images`` / ``iuvs`` map a key to its shard URL."""

    images: dict[str, str]
    person: dict[str, str]
    iuvs: dict[str, str]

    @classmethod
    def build(
        cls,
        root_url: str,
        dataset: str,
        iuv_source: str,
        images: bool = True,
        keys: Iterable[str] | None = None,
    ) -> InputIndex:
        """From the Parquet manifests only (FileNotFoundError naming a missing folder).

        ``keys``: index only these, reading only the manifests whose key range (Parquet
        statistics) can hold one of them, so one render shard's index costs the same at any
        data-set size; None indexes every key.
        """
        wanted = None if keys is None else sorted(set(keys))
        image_urls, person = {}, {}
        if images:
            folder = shards_folder(root_url, dataset)
            urls = dataset_shard_urls(root_url, dataset)
            for url in _holding(urls, wanted):
                table = shards.read_manifest(shards.shard_manifest_url(url), INDEX_COLUMNS)
                for key, stem, pid in zip(*table.to_pydict().values(), strict=True):
                    if wanted is None or _has(wanted, key):
                        image_urls[key] = storage.join(folder, f"{stem}.tar")
                        person[key] = pid or ""
        iuvs = {}
        iuv_urls = shards.shard_urls(storage.join(root_url, "densepose", dataset, iuv_source))
        for url in _holding([u for u in iuv_urls if storage.exists(shards.shard_manifest_url(u))],
                            wanted):  # fmt: skip
            found = shards.read_manifest(shards.shard_manifest_url(url), ["key"]).column("key")
            iuvs |= {k: url for k in found.to_pylist() if wanted is None or _has(wanted, k)}
        return cls(image_urls, person, iuvs)

    def urls(self, keys: Iterable[str], images: bool = True) -> list[str]:
        """Shard URLs holding ``keys`` (their IUVs, and images when ``images``)."""
        maps = (self.iuvs, self.images) if images else (self.iuvs,)
        return sorted({m[k] for m in maps for k in keys if k in m})


def _has(sorted_keys: list[str], key: str) -> bool:
    i = bisect.bisect_left(sorted_keys, key)
    return i < len(sorted_keys) and sorted_keys[i] == key


def _key_range(manifest_url: str) -> tuple[str, str] | None:
    """(smallest, largest) key of a manifest from its footer's statistics; None if unknown."""
    with storage.open_read(manifest_url) as stream:
        meta = pq.ParquetFile(stream).metadata
    if meta.num_rows == 0:
        return ("", "")
    column = meta.schema.to_arrow_schema().get_field_index("key")
    if column < 0:
        return None
    stats = [meta.row_group(g).column(column).statistics for g in range(meta.num_row_groups)]
    if any(st is None or not st.has_min_max for st in stats):
        return None
    return min(st.min for st in stats), max(st.max for st in stats)


def _holding(shard_urls: list[str], sorted_keys: list[str] | None) -> list[str]:
    """The shards whose manifest's key range holds one of ``sorted_keys`` (all if None)."""
    if sorted_keys is None:
        return shard_urls
    kept = []
    for url in shard_urls:
        span = _key_range(shards.shard_manifest_url(url))
        i = 0 if span is None else bisect.bisect_left(sorted_keys, span[0])
        if span is None or (i < len(sorted_keys) and sorted_keys[i] <= span[1]):
            kept.append(url)
    return kept


def fetch_members(locations: dict[str, str], keys: Iterable[str]) -> dict[str, dict[str, bytes]]:
    """``{key: {ext: bytes}}`` of the ``keys`` found in ``locations``; each shard is read once,
    up to its last wanted key."""
    by_url: dict[str, set[str]] = {}
    for key in keys:
        if key in locations:
            by_url.setdefault(locations[key], set()).add(key)
    found: dict[str, dict[str, bytes]] = {}
    for url, wanted in sorted(by_url.items()):
        samples = shards.iter_shard(url)
        for sample in samples:
            if sample["__key__"] in wanted:
                wanted.discard(str(sample["__key__"]))
                found[str(sample["__key__"])] = {k: v for k, v in sample.items() if k != "__key__"}
                if not wanted:
                    samples.close()
                    break
    return found


def decode_target_iuv(key: str, iuv_png: bytes, size: int) -> torch.Tensor:
    """(3, size, size) uint8 IUV tensor, padded to a square and resized (nearest)."""
    iuv_hw3 = decode_iuv_png(iuv_png, name=f"{key}.iuv.png")
    square = fit_square(iuv_hw3, size, nearest=True, fill=0)
    return torch.from_numpy(np.ascontiguousarray(square)).permute(2, 0, 1).contiguous()


def input_indexes(
    job: RenderJob,
    source_keys: Iterable[str] | None = None,
    target_keys: Iterable[str] | None = None,
) -> tuple[InputIndex, InputIndex]:
    """(sources, targets) indexes of a job; the same object twice without a pose bank.

    With ``source_keys`` and ``target_keys``, only those keys are indexed.
    """
    same = (job.target_dataset, job.target_source) == (job.dataset, job.iuv_source)
    wanted = None if source_keys is None or target_keys is None else (set(source_keys),
                                                                      set(target_keys))  # fmt: skip
    keys = None if wanted is None else wanted[0] | (wanted[1] if same else set())
    sources = InputIndex.build(job.root_url, job.dataset, job.iuv_source, keys=keys)
    if same:
        return sources, sources
    bank_keys = None if wanted is None else wanted[1]
    bank = InputIndex.build(job.root_url, job.target_dataset, job.target_source, False, bank_keys)
    return sources, bank
