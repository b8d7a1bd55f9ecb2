"""Planning a render set: requests table, ``render.json`` and ``requests.parquet``, and the
requests of pairs or of a pose bank."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dpt_core import storage
from dpt_core.data import shards
from dpt_core.data.pairs import pairs_url, read_pairs
from dpt_core.models import ModelScale
from dpt_core.render.inputs import input_indexes
from dpt_core.render.job import (
    OUTPUT_KEY_SEPARATOR,
    PAIR_COLUMNS,
    RENDER_VERSION,
    REQUESTS_ROW_GROUP,
    REQUESTS_SCHEMA,
    RenderJob,
)
from dpt_core.train.checkpoint import checkpoint_scale, load_checkpoint, resolve_checkpoint

logger = logging.getLogger(__name__)


def _key_columns(requests: pa.Table | Sequence[tuple[str, str]]) -> tuple[pa.Array, pa.Array]:
    """(source keys, target keys) as string arrays."""
    if isinstance(requests, pa.Table):
        missing = {"source_key", "target_key"} - set(requests.column_names)
        if missing:
            raise ValueError(f"requests: missing column(s) {sorted(missing)}")
        columns = (requests.column(c).combine_chunks() for c in ("source_key", "target_key"))
        return tuple(c.cast(pa.string()) for c in columns)  # type: ignore[return-value]
    pairs = [(str(s), str(t)) for s, t in requests]
    return tuple(pa.array([p[i] for p in pairs], pa.string()) for i in (0, 1))  # type: ignore[return-value]


def requests_table(requests: pa.Table | Sequence[tuple[str, str]], shard_size: int) -> pa.Table:
    """Requests sorted by output key, deduplicated, with their shard index (REQUESTS_SCHEMA).

    Columnar (Arrow) throughout: a million requests take a few hundred MB, not gigabytes.
    """
    source, target = _key_columns(requests)
    keys = pc.binary_join_element_wise(source, target, OUTPUT_KEY_SEPARATOR)  # output_key
    table = pa.table({"key": keys, "source_key": source, "target_key": target})
    table = table.take(pc.sort_indices(table, [(c, "ascending") for c in table.column_names]))
    if table.num_rows > 1:  # a repeated request is its sorted neighbour's equal
        key, src = table.column("key"), table.column("source_key")
        repeat = pc.and_(pc.equal(key[1:], key[:-1]), pc.equal(src[1:], src[:-1]))
        table = table.filter(
            pa.concat_arrays([pa.array([True]), pc.invert(repeat).combine_chunks()])
        )
    keys = table.column("key")
    bad = pc.match_substring_regex(keys, r"[./\x00]")
    if pc.any(bad).as_py():
        first = keys.filter(bad)[0].as_py()
        raise ValueError(f"requests: keys must not contain '.', '/' or NUL, got {first!r}")
    if table.num_rows > 1 and pc.any(pc.equal(keys[1:], keys[:-1])).as_py():
        raise ValueError("requests: two requests give the same output key (keys with '__')")
    shard = (np.arange(table.num_rows) // shard_size).astype(np.int32)
    return pa.table([*table.columns, pa.array(shard)], schema=REQUESTS_SCHEMA)


def checkpoint_identity(checkpoint: str) -> tuple[str, str, int, ModelScale]:
    """(resolved .pt URL, sha256 of its bytes, training step, model scale)."""
    url = resolve_checkpoint(checkpoint)
    payload = load_checkpoint(url)
    sha = storage.sha256(url)
    return url, sha, int(payload["step"]), checkpoint_scale(payload)


def plan_render(job: RenderJob, requests: pa.Table | Sequence[tuple[str, str]]) -> dict:
    """Write ``requests.parquet`` and ``render.json``, drop stale shards; returns the info."""
    table = requests_table(requests, job.shard_size)
    if table.num_rows == 0:
        raise ValueError("requests: nothing to render (no request given)")
    url, sha, step, scale = checkpoint_identity(job.checkpoint)
    n_shards = int(table.column("shard")[-1].as_py()) + 1
    info = {
        "version": RENDER_VERSION, **asdict(job), "branches": list(job.branches),
        "checkpoint_url": url, "checkpoint_sha256": sha, "step": step,
        "scale": scale.model_dump(mode="json"), "image_size": scale.image_size,
        "atlas_n": scale.atlas_n, "target_dataset": job.target_dataset,
        "target_source": job.target_source, "requests": table.num_rows, "shards": n_shards,
    }  # fmt: skip
    group = job.shard_size * max(1, REQUESTS_ROW_GROUP // job.shard_size)  # whole shards
    shards.write_manifest(storage.join(job.url, "requests.parquet"), table, REQUESTS_SCHEMA, group)
    storage.write_bytes(storage.join(job.url, "render.json"), json.dumps(info, indent=1).encode())
    for stale in shards.shard_urls(job.url)[n_shards:]:
        for path in (stale, shards.shard_manifest_url(stale), storage.marker_url(stale)):
            fs, inner = storage.url_to_fs(path)
            if fs.exists(inner):
                fs.rm_file(inner)
    logger.info("%s: %d requests in %d shards (step %d)", job.url, table.num_rows, n_shards, step)
    return info


def read_render_info(render_url: str) -> dict:
    """``render.json`` of a render set (FileNotFoundError naming it when missing)."""
    return json.loads(storage.read_bytes(storage.join(render_url, "render.json")))


def read_requests(render_url: str, index: int | None = None) -> pa.Table:
    """``requests.parquet`` of a render set, or the rows of shard ``index`` (read from the
    row groups whose ``shard`` statistics can hold it: a shard costs the same at any size)."""
    url = storage.join(render_url, "requests.parquet")
    if index is None:
        return shards.read_manifest(url)
    with storage.open_read(url) as stream:
        parquet = pq.ParquetFile(stream)
        column = parquet.schema_arrow.get_field_index("shard")
        stats = [parquet.metadata.row_group(g).column(column).statistics
                 for g in range(parquet.num_row_groups)]  # fmt: skip
        groups = [g for g, st in enumerate(stats) if _may_hold(st, index)]
        table = parquet.read_row_groups(groups) if groups else parquet.schema_arrow.empty_table()
    return table.filter(pc.equal(table.column("shard"), index))


def _may_hold(statistics: pq.Statistics | None, value: int) -> bool:
    """Whether a row group with these column statistics may hold ``value``."""
    if statistics is None or not statistics.has_min_max:
        return True
    return statistics.min <= value <= statistics.max


def pairs_requests(job: RenderJob, split: str = "test", limit: int | None = None) -> pa.Table:
    """The ``split`` pairs of ``job.dataset`` as requests (REQUESTS_SCHEMA); ``limit`` keeps
    that many, evenly spaced in output-key order."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 or None, got {limit}")
    pairs = shards.read_manifest(pairs_url(job.root_url, job.dataset, split), PAIR_COLUMNS)
    table = requests_table(pairs, job.shard_size)
    if limit is not None and table.num_rows > limit:
        keep = np.unique(np.linspace(0, table.num_rows - 1, limit).round().astype(np.int64))
        table = table.take(pa.array(keep))
    return table


def pose_bank_requests(
    job: RenderJob, split: str = "test", per_source: int = 4, seed: int = 0
) -> list[tuple[str, str]]:
    """Every image of the ``split`` pairs of ``job.dataset`` (as source) with ``per_source``
    target poses of the pose bank, drawn without replacement (seeded per source)."""
    if per_source < 1:
        raise ValueError(f"per_source must be >= 1, got {per_source}")
    pairs = read_pairs(job.root_url, job.dataset, split)
    sources = sorted({k for c in ("source_key", "target_key") for k in pairs.column(c).to_pylist()})
    targets = np.asarray(sorted(input_indexes(job)[1].iuvs), dtype=object)
    if not len(targets):
        raise ValueError(f"pose_bank: no IUV in densepose/{job.target_dataset}/{job.target_source}")
    k = min(per_source, len(targets))
    draws = [
        np.random.default_rng([seed, i]).choice(targets, k, False) for i in range(len(sources))
    ]
    return [(s, str(t)) for s, picked in zip(sources, draws, strict=True) for t in picked]
