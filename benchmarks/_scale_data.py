"""Inputs of ``benchmarks/scale.py``, made once and cached under a work folder.

* ``pool/``: a real studio data set (``generate_dataset``, 20 samples per identity).
* ``src-N/``: a studio-layout source of N samples: its ``manifest.parquet`` names N keys of
  N / 20 distinct persons, identity ``d`` reusing the files of pool identity ``d % P``
  (hard links to the pool's PNGs). Every stage decodes and processes each sample, so the work
  per sample is that of N distinct renders while only the pool is rendered.
* ``pairs-1m/``: a data set of manifests only (empty shard tars) whose persons give a million
  test pairs, for ``make-pairs`` and render planning.

Every file is written atomically through ``dpt_core.storage``; a folder is complete once its
``_done.json`` is there, and a cached one is reused as it is.
"""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq

from dpt_core import storage
from dpt_core.data.manifest import MANIFEST_SCHEMA, shards_folder
from dpt_core.data.shards import shard_manifest_url, shard_name
from dpt_core.studio import generate_dataset
from dpt_core.studio.stage import FOLDERS
from dpt_core.studio.stage import MANIFEST_SCHEMA as STUDIO_SCHEMA

POSES, VIEWS = 4, 5  # 20 samples per person
PER_PERSON = POSES * VIEWS
DONE = "_done.json"


def _done(folder: str) -> bool:
    return storage.exists(storage.join(folder, DONE))


def _mark_done(folder: str, **info: object) -> None:
    storage.write_bytes(storage.join(folder, DONE), json.dumps(info, sort_keys=True).encode())


def studio_pool(work: str, identities: int, size: int) -> str:
    """``WORK/pool-SIZEpx-P``: a studio data set of ``identities`` × 20 samples (cached)."""
    folder = os.path.join(work, f"pool-{size}px-{identities}")
    if not _done(folder):
        summary = generate_dataset(folder, identities, POSES, VIEWS, size=size, batch_size=64)
        _mark_done(folder, **summary)
    return folder


def _link_pool(pool: str, folder: str) -> None:
    """Hard links to the pool's PNGs under ``folder`` (kept when already there)."""
    for sub in FOLDERS:
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
        for name in os.listdir(os.path.join(pool, sub)):
            target = os.path.join(folder, sub, name)
            if not os.path.exists(target):
                os.link(os.path.join(pool, sub, name), target)


def _replicated_rows(pool_table: pa.Table, count: int, pool_identities: int) -> pa.Table:
    """``count`` studio manifest rows: identity d takes the rows of pool identity d % P."""
    by_identity = pool_table.to_pydict()
    rows = []
    for i in range(count):
        person, rest = divmod(i, PER_PERSON)
        src = (person % pool_identities) * PER_PERSON + rest
        row = {c: by_identity[c][src] for c in STUDIO_SCHEMA.names}
        key = f"id{person:05d}_p{rest // VIEWS:03d}_v{rest % VIEWS:02d}"
        row.update(key=key, identity=person, person_id=f"id{person:05d}",
                   split="test" if person % 5 == 4 else "train")  # fmt: skip
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=STUDIO_SCHEMA)


def studio_source(work: str, count: int, pool: str) -> str:
    """``WORK/src-N``: a studio source of ``count`` samples over the pool's files (cached)."""
    folder = os.path.join(work, f"src-{count}")
    if _done(folder):
        return folder
    if count % PER_PERSON:
        raise ValueError(f"count must be a multiple of {PER_PERSON}, got {count}")
    pool_table = pq.read_table(os.path.join(pool, "manifest.parquet"))
    _link_pool(pool, folder)
    table = _replicated_rows(pool_table, count, pool_table.num_rows // PER_PERSON)
    with storage.open_atomic(storage.join(folder, "manifest.parquet")) as stream:
        pq.write_table(table, stream, compression="zstd")
    _mark_done(folder, samples=count, pool=pool)
    return folder


def pairs_dataset(work: str, pairs: int, per_person: int = 10, shard: int = 1000) -> str:
    """``WORK/pairs-P``: a data set root whose shard manifests give ≥ ``pairs`` test pairs
    (``per_person`` images per person, all in the test split); the tars are empty (cached)."""
    root = os.path.join(work, f"pairs-{pairs}")
    if _done(root):
        return root
    persons = -(-pairs // (per_person * (per_person - 1)))
    keys = [f"p{p:07d}_{i:02d}" for p in range(persons) for i in range(per_person)]
    folder = shards_folder(root, "studio")
    for index, start in enumerate(range(0, len(keys), shard)):
        chunk, stem = keys[start : start + shard], shard_name("studio", index)
        fixed = {"shard": stem, "split": "test", "flags": ""}
        columns = {"key": chunk, "person_id": [k.split("_")[0] for k in chunk],
                   **{c: [v] * len(chunk) for c, v in fixed.items()}}  # fmt: skip
        table = pa.table({n: columns.get(n, [None] * len(chunk)) for n in MANIFEST_SCHEMA.names},
                         schema=MANIFEST_SCHEMA)  # fmt: skip
        tar_url = storage.join(folder, f"{stem}.tar")
        storage.write_bytes(tar_url, b"")
        with storage.open_atomic(shard_manifest_url(tar_url)) as stream:
            pq.write_table(table, stream, compression="zstd")
    total = persons * per_person * (per_person - 1)
    _mark_done(root, persons=persons, images=len(keys), pairs=total)
    return root
