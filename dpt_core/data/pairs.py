"""Source/target pairs for pose transfer: ``pairs/NAME/{train,test}.parquet``.

A pair is two different images of the same person (``source_key``, ``target_key``,
``person_id``). Each person belongs to exactly one split, so no test identity is seen in
training: the dataset's own split when all of a person's samples agree on it, else a
deterministic hash of the person id against ``test_fraction``. PATN's pair CSVs import to the
same schema.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dpt_core import storage
from dpt_core.data.layouts.patn import SPLITS, parse_patn_name, patn_file, patn_key, read_pairs_csv
from dpt_core.data.manifest import read_dataset_manifest, shards_folder
from dpt_core.data.shards import read_manifest, write_manifest

logger = logging.getLogger(__name__)

PAIRS_SCHEMA = pa.schema(
    [("source_key", pa.string()), ("target_key", pa.string()), ("person_id", pa.string())]
)
EXCLUDED_FLAGS = frozenset({"junk", "distractor"})
ROW_GROUP = 65_536  # pairs per Parquet row group written by make_pairs


@dataclass(frozen=True)
class PairsSummary:
    """Pairs written per split, persons per split, and pairs dropped (unknown keys)."""

    dataset: str
    pairs: dict[str, int]
    persons: dict[str, int]
    dropped: int
    urls: dict[str, str]


def pairs_url(root_url: str, name: str, split: str) -> str:
    """``ROOT/pairs/NAME/SPLIT.parquet``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return storage.join(root_url, "pairs", name, f"{split}.parquet")


def read_pairs(root_url: str, name: str, split: str) -> pa.Table:
    """The pairs table of one split (PAIRS_SCHEMA)."""
    return read_manifest(pairs_url(root_url, name, split))


def _hash_unit(text: str) -> float:
    """A stable number in [0, 1) from ``text``."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:16], 16) / 2.0**64


def person_split(person_id: str, dataset_splits: set[str], test_fraction: float, seed: int) -> str:
    """The one split of a person: the dataset's if consistent, else by hash."""
    if len(dataset_splits) == 1 and next(iter(dataset_splits)) in SPLITS:
        return next(iter(dataset_splits))
    return "test" if _hash_unit(f"{seed}:{person_id}") < test_fraction else "train"


def person_pairs(keys: list[str], max_pairs: int | None, rng_key: str) -> tuple[np.ndarray, ...]:
    """All ordered pairs (a, b), a != b, of sorted ``keys``, or a deterministic subset.

    Returns (source index, target index) arrays into ``keys``, sorted by (source, target).
    Pair number i is source i // (n-1), target j = i % (n-1) skipping the source itself.
    """
    n = len(keys)
    total = n * (n - 1)
    if max_pairs is not None and total > max_pairs:
        rng = np.random.default_rng(int(hashlib.sha256(rng_key.encode()).hexdigest()[:16], 16))
        flat = np.sort(rng.choice(total, size=max_pairs, replace=False))
    else:
        flat = np.arange(total)
    src, offset = np.divmod(flat, max(n - 1, 1))
    return src, offset + (offset >= src)


def _group_persons(table: pa.Table) -> dict[str, tuple[list[str], set[str]]]:
    """person -> (sorted keys, dataset splits), without flagged or anonymous samples."""
    groups: dict[str, tuple[list[str], set[str]]] = defaultdict(lambda: ([], set()))
    rows = zip(
        *(table.column(c).to_pylist() for c in ("key", "person_id", "split", "flags")), strict=True
    )
    for key, person, split, flags in rows:
        if person is None or EXCLUDED_FLAGS & set((flags or "").split(",")):
            continue
        groups[person][0].append(key)
        groups[person][1].add(split)
    return {p: (sorted(keys), splits) for p, (keys, splits) in sorted(groups.items())}


def _check_options(test_fraction: float, max_per_person: int | None) -> None:
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"test_fraction must be in [0, 1], got {test_fraction}")
    if max_per_person is not None and max_per_person < 1:
        raise ValueError(f"max_per_person must be >= 1 or None, got {max_per_person}")


def iter_pairs(
    table: pa.Table, test_fraction: float = 0.1, seed: int = 0, max_per_person: int | None = None
) -> Iterator[tuple[str, pa.Table]]:
    """(split, that person's pairs) for every person of a dataset manifest, in person order:
    memory follows one person's pairs, not the whole table."""
    _check_options(test_fraction, max_per_person)
    for person, (keys, splits) in _group_persons(table).items():
        src, tgt = person_pairs(keys, max_per_person, f"{seed}:{person}")
        key_array = pa.array(keys, pa.string())
        person_array = pa.array([person] * len(src), pa.string())
        pairs = pa.table([key_array.take(src), key_array.take(tgt), person_array], PAIRS_SCHEMA)
        yield person_split(person, splits, test_fraction, seed), pairs


def build_pairs(
    table: pa.Table, test_fraction: float = 0.1, seed: int = 0, max_per_person: int | None = None
) -> dict[str, pa.Table]:
    """Pairs tables per split from a dataset manifest (columns key, person_id, split, flags)."""
    chunks: dict[str, list[pa.Table]] = {s: [PAIRS_SCHEMA.empty_table()] for s in SPLITS}
    for split, pairs in iter_pairs(table, test_fraction, seed, max_per_person):
        chunks[split].append(pairs)
    return {split: pa.concat_tables(tables) for split, tables in chunks.items()}


def _write(root_url: str, name: str, tables: dict[str, pa.Table], dropped: int) -> PairsSummary:
    urls = {}
    for split, table in tables.items():
        urls[split] = pairs_url(root_url, name, split)
        write_manifest(urls[split], table, PAIRS_SCHEMA)
    persons = {s: len(set(t.column("person_id").to_pylist())) for s, t in tables.items()}
    pairs = {s: t.num_rows for s, t in tables.items()}
    logger.info("%s: pairs %s, persons %s, dropped %d", name, pairs, persons, dropped)
    return PairsSummary(name, pairs, persons, dropped, urls)


def _write_streamed(
    root_url: str, name: str, chunks: Iterator[tuple[str, pa.Table]]
) -> PairsSummary:
    """Write (split, pairs) chunks to ``pairs/NAME/SPLIT.parquet`` in row groups of about
    ROW_GROUP rows, both files atomically; holds at most a row group per split."""
    urls = {s: pairs_url(root_url, name, s) for s in SPLITS}
    pairs, persons, held = (dict.fromkeys(SPLITS, 0) for _ in range(3))
    pending: dict[str, list[pa.Table]] = {s: [] for s in SPLITS}
    with contextlib.ExitStack() as stack:
        writers = {}
        for split, url in urls.items():
            stream = stack.enter_context(storage.open_atomic(url))
            writers[split] = stack.enter_context(
                pq.ParquetWriter(stream, PAIRS_SCHEMA, compression="zstd")
            )
        for split, chunk in chunks:
            pending[split].append(chunk)
            persons[split] += chunk.num_rows > 0
            pairs[split] += chunk.num_rows
            held[split] += chunk.num_rows
            if held[split] >= ROW_GROUP:
                writers[split].write_table(pa.concat_tables(pending[split]))
                pending[split], held[split] = [], 0
        for split, tables in pending.items():
            if tables:
                writers[split].write_table(pa.concat_tables(tables))
    logger.info("%s: pairs %s, persons %s, dropped 0", name, pairs, persons)
    return PairsSummary(name, pairs, persons, 0, urls)


def make_pairs(
    root_url: str,
    name: str,
    test_fraction: float = 0.1,
    seed: int = 0,
    max_per_person: int | None = None,
) -> PairsSummary:
    """Build pairs from the sharded dataset NAME and write ``pairs/NAME/{train,test}.parquet``,
    person by person (memory follows the manifest's keys, not the number of pairs)."""
    _check_options(test_fraction, max_per_person)
    table = read_dataset_manifest(root_url, name, ["key", "person_id", "split", "flags"])
    return _write_streamed(root_url, name, iter_pairs(table, test_fraction, seed, max_per_person))


def _known_keys(root_url: str, name: str) -> set[str] | None:
    if not storage.exists(shards_folder(root_url, name)):
        return None
    return set(read_dataset_manifest(root_url, name, ["key"]).column("key").to_pylist())


def _import_split(
    url: str, known: set[str] | None, failures: list[storage.Failure]
) -> tuple[pa.Table, int]:
    """One PATN pairs CSV as a PAIRS_SCHEMA table; bad rows and unknown keys to ``failures``."""
    pairs, bad_rows = read_pairs_csv(url)
    failures += [storage.Failure("", r.source, "pairs", r.reason, r.detail) for r in bad_rows]
    rows, dropped = [], 0
    for source, target in pairs:
        try:
            keys = (patn_key(source), patn_key(target))
        except ValueError as exc:
            failures.append(
                storage.Failure(f"{source}>{target}", url, "pairs", "bad_name", str(exc))
            )
            continue
        if known is not None and not set(keys) <= known:
            dropped += 1
            detail = f"not in the data set: {sorted(set(keys) - known)}"
            failures.append(
                storage.Failure(f"{source}>{target}", url, "pairs", "unknown_key", detail)
            )
            continue
        fields = parse_patn_name(source) or parse_patn_name(target) or {}
        rows.append(dict(zip(PAIRS_SCHEMA.names, (*keys, fields.get("person_id")), strict=True)))
    return pa.Table.from_pylist(rows, schema=PAIRS_SCHEMA), dropped


def import_patn_pairs(patn_src: str, root_url: str, name: str) -> PairsSummary:
    """PATN's ``fasion-resize-pairs-{train,test}.csv`` as ``pairs/NAME/{split}.parquet``.

    When dataset NAME is sharded, pairs naming a key it lacks (rejected image) are dropped.
    Dropped pairs and malformed rows are logged in ``failures/pairs/NAME.parquet``.
    """
    known = _known_keys(root_url, name)
    tables, dropped, failures = {}, 0, []
    for split in SPLITS:
        url = patn_file(patn_src, "pairs", split)
        if url is None:
            raise FileNotFoundError(f"no fasion-resize-pairs-{split}.csv in {patn_src}")
        tables[split], split_dropped = _import_split(url, known, failures)
        dropped += split_dropped
    overlap = set(tables["train"].column("person_id").to_pylist()) & set(
        tables["test"].column("person_id").to_pylist()
    )
    if overlap:
        logger.warning("%s: %d PATN persons appear in both splits", name, len(overlap))
    if failures:
        storage.append_failures(root_url, "pairs", name, failures)
    return _write(root_url, name, tables, dropped)
