"""Samples of a shard plan as Parquet rows: in key order in bounded memory, one row group per
shard on storage.

The plan of a data set is written, not held: :class:`SampleSorter` puts a scan's samples in
(key, scan order) order with an external merge sort (runs of ``RUN_ROWS`` samples sorted in
memory, spilled to a scratch folder as Parquet, then merged ``MERGE_BATCH`` rows per run at a
time), :func:`sorted_unique` keeps the first sample of each key (the others become
``duplicate_key`` rejections), and :class:`PlanWriter` writes each shard's samples as one row
group of the plan file, so a shard writer reads only its own (:func:`read_plan_group`). Memory
is bounded by the run size and the number of runs, never by the whole data set.

Every field of :class:`~dpt_core.data.layouts.SourceSample` round-trips: ``meta`` and
``extras`` as JSON text (every output of the stage is JSON of them: KEY.json, the manifest's
``meta`` column and the fingerprint), ``flags`` as a list.
"""

from __future__ import annotations

import contextlib
import heapq
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dpt_core import storage
from dpt_core.data.layouts import Rejected, SourceSample

RUN_ROWS = 4096  # samples sorted in memory at once (a few shards' worth); more are spilled
MERGE_BATCH = 256  # rows read at a time from each spilled run while merging
_RUN_ROW_GROUP = 1024
_CHUNK_ROWS = 1024  # samples turned into one Arrow table at a time
ORDINAL = "_ordinal"  # position in the scan, in spilled runs only

PLAN_SCHEMA = pa.schema(
    [("key", pa.string()), ("url", pa.string()), ("size", pa.int64()),
     ("version", pa.string()), ("person_id", pa.string()), ("view", pa.string()),
     ("camera", pa.int64()), ("split", pa.string()), ("flags", pa.list_(pa.string())),
     ("meta", pa.string()), ("extras", pa.string())]
)  # fmt: skip
_RUN_SCHEMA = PLAN_SCHEMA.append(pa.field(ORDINAL, pa.int64()))


def _json(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def samples_table(
    samples: Sequence[SourceSample], ordinals: Sequence[int] | None = None
) -> pa.Table:
    """``samples`` as a PLAN_SCHEMA table (plus the scan ``ordinals`` column when given).

    ValueError naming the sample when a field does not have its declared type.
    """
    columns: dict[str, list] = {
        "key": [s.key for s in samples], "url": [s.url for s in samples],
        "size": [s.size for s in samples], "version": [s.version for s in samples],
        "person_id": [s.person_id for s in samples], "view": [s.view for s in samples],
        "camera": [s.camera for s in samples], "split": [s.split for s in samples],
        "flags": [list(s.flags) for s in samples], "meta": [_json(s.meta) for s in samples],
        "extras": [_json(s.extras) for s in samples],
    }  # fmt: skip
    schema = PLAN_SCHEMA
    if ordinals is not None:
        columns[ORDINAL], schema = list(ordinals), _RUN_SCHEMA
    try:
        return pa.table(columns, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"a sample field has the wrong type for the shard plan: {exc}") from exc


def iter_samples(table: pa.Table | pa.RecordBatch) -> Iterator[SourceSample]:
    """The samples of a PLAN_SCHEMA table or batch, in row order."""
    columns = table.select(PLAN_SCHEMA.names).to_pydict()
    for row in zip(*columns.values(), strict=True):
        key, url, size, version, person_id, view, camera, split, flags, meta, extras = row
        yield SourceSample(
            key, url, size, version, person_id, view, camera, split,
            tuple(flags), json.loads(meta), json.loads(extras),
        )  # fmt: skip


class SampleSorter:
    """Samples in (key, ordinal) order: :meth:`add` them, then iterate :meth:`merged` once.

    At most ``RUN_ROWS`` samples are held (as Arrow rows); full runs are sorted and spilled to
    ``scratch_url`` (a folder of this process, e.g. a local temp folder).
    """

    def __init__(self, scratch_url: str) -> None:
        self._scratch_url = scratch_url
        self._pending: list[tuple[SourceSample, int]] = []
        self._chunks: list[pa.Table] = []
        self._rows = 0
        self._runs: list[str] = []

    def add(self, sample: SourceSample, ordinal: int) -> None:
        self._pending.append((sample, ordinal))
        if len(self._pending) >= _CHUNK_ROWS:
            self._flush_pending()
        if self._rows + len(self._pending) >= RUN_ROWS:
            self._spill()

    def _flush_pending(self) -> None:
        if self._pending:
            samples, ordinals = zip(*self._pending, strict=True)
            self._chunks.append(samples_table(samples, ordinals))
            self._rows += len(self._pending)
            self._pending = []

    def _sorted_run(self) -> pa.Table:
        self._flush_pending()
        table = pa.concat_tables(self._chunks) if self._chunks else _RUN_SCHEMA.empty_table()
        self._chunks, self._rows = [], 0
        return table.sort_by([("key", "ascending"), (ORDINAL, "ascending")])

    def _spill(self) -> None:
        url = storage.join(self._scratch_url, f"run-{len(self._runs):05d}.parquet")
        table = self._sorted_run()
        with storage.open_atomic(url) as stream:
            pq.write_table(table, stream, compression="zstd", row_group_size=_RUN_ROW_GROUP)
        self._runs.append(url)

    def merged(self) -> Iterator[tuple[SourceSample, int]]:
        """Every added sample with its ordinal, by key then ordinal; the spilled runs are
        removed once read."""
        last = self._sorted_run()
        with contextlib.ExitStack() as stack:
            runs = [_iter_run(stack.enter_context(storage.open_read(u))) for u in self._runs]
            yield from heapq.merge(*runs, _iter_batches(last), key=_sort_key)
        for url in self._runs:
            fs, path = storage.url_to_fs(url)
            fs.rm_file(path)
        self._runs = []


def sorted_unique(
    found: Iterable[SourceSample | Rejected], scratch_url: str
) -> tuple[Iterator[SourceSample], list[Rejected]]:
    """Samples with unique keys, sorted by key (the first in source order wins), and all
    rejections in source order; the list is complete once the iterator is exhausted."""
    sorter = SampleSorter(scratch_url)
    rejected: list[tuple[int, Rejected]] = []
    for ordinal, item in enumerate(found):
        if isinstance(item, Rejected):
            rejected.append((ordinal, item))
        else:
            sorter.add(item, ordinal)
    in_order: list[Rejected] = []

    def unique() -> Iterator[SourceSample]:
        first: SourceSample | None = None
        for sample, ordinal in sorter.merged():
            if first is not None and sample.key == first.key:
                detail = f"key {sample.key!r} already taken by {first.url}"
                rejected.append(
                    (ordinal, Rejected(sample.url, "duplicate_key", detail, sample.key))
                )
                continue
            first = sample
            yield sample
        in_order.extend(r for _, r in sorted(rejected, key=lambda pair: pair[0]))

    return unique(), in_order


def _sort_key(item: tuple[SourceSample, int]) -> tuple[str, int]:
    return item[0].key, item[1]


def _iter_batches(table: pa.Table) -> Iterator[tuple[SourceSample, int]]:
    for batch in table.to_batches(MERGE_BATCH):
        ordinals = batch.column(ORDINAL).to_pylist()
        yield from zip(iter_samples(batch), ordinals, strict=True)


def _iter_run(stream: Any) -> Iterator[tuple[SourceSample, int]]:
    for batch in pq.ParquetFile(stream).iter_batches(batch_size=MERGE_BATCH):
        yield from _iter_batches(pa.Table.from_batches([batch]))


class PlanWriter:
    """Writes a plan file to ``plan_url`` (atomically, on a clean exit): :meth:`add_group` once
    per shard, in shard order; row group ``i`` holds shard ``i``'s samples."""

    def __init__(self, plan_url: str) -> None:
        self.plan_url = plan_url
        self.groups = 0
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> PlanWriter:
        stream = self._stack.enter_context(storage.open_atomic(self.plan_url))
        self._writer = self._stack.enter_context(
            pq.ParquetWriter(stream, PLAN_SCHEMA, compression="zstd")
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.__exit__(*exc)

    def add_group(self, samples: Sequence[SourceSample]) -> int:
        """Write ``samples`` as the next row group; returns its index."""
        table = samples_table(samples)
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.groups += 1
        return self.groups - 1


def read_plan_group(plan_url: str, index: int) -> tuple[SourceSample, ...]:
    """The samples of row group ``index`` of the plan at ``plan_url`` (only that one is read).

    FileNotFoundError naming the URL when the plan is gone; ValueError when it has no such
    row group.
    """
    with storage.open_read(plan_url) as stream:
        plan_file = pq.ParquetFile(stream)
        if not 0 <= index < plan_file.num_row_groups:
            raise ValueError(
                f"{storage.redact(plan_url)}: no row group {index} "
                f"({plan_file.num_row_groups} in the plan)"
            )
        return tuple(iter_samples(plan_file.read_row_group(index)))
