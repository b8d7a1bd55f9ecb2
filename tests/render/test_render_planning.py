"""Render planning at scale: columnar requests, and one shard's requests read alone."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dpt_core.models import get_scale
from dpt_core.render import RenderJob, plan_render, read_requests, requests_table
from dpt_core.render import plan as render_plan


def _reference(pairs: list[tuple[str, str]], shard_size: int) -> list[tuple[str, str, str, int]]:
    """What requests_table promises, in plain Python."""
    rows = sorted((f"{s}__{t}", s, t) for s, t in set(pairs))
    return [(*row, i // shard_size) for i, row in enumerate(rows)]


def _rows(table) -> list[tuple]:
    return list(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))


def test_requests_table_sorts_deduplicates_and_shards():
    rng = random.Random(0)
    keys = [f"k{rng.randrange(40):02d}" for _ in range(30)] + ["ä", "Z", "k_1"]
    pairs = [(rng.choice(keys), rng.choice(keys)) for _ in range(300)]
    assert _rows(requests_table(pairs, 7)) == _reference(pairs, 7)
    table = requests_table(requests_table(pairs, 3), 5)  # a table in: same requests
    assert _rows(table) == _reference(pairs, 5)
    assert requests_table([], 4).num_rows == 0


def test_requests_table_refuses_bad_and_colliding_keys():
    with pytest.raises(ValueError, match=r"must not contain.*'c/d__e'"):
        requests_table([("a", "b"), ("c/d", "e")], 8)
    with pytest.raises(ValueError, match="same output key"):
        requests_table([("a__b", "c"), ("a", "b__c")], 8)


def test_a_shard_reads_only_its_row_group(tmp_path: Path, monkeypatch):
    """read_requests(url, i) reads one row group of requests.parquet, not the whole plan, so a
    render shard costs the same whatever the number of requests."""
    fake = ("/x/runs/r/step-1.pt", "0" * 64, 1, get_scale("tiny"))
    monkeypatch.setattr(render_plan, "checkpoint_identity", lambda _: fake)
    monkeypatch.setattr(render_plan, "REQUESTS_ROW_GROUP", 10)
    job = RenderJob(str(tmp_path), "/x/runs/r/step-1.pt", "plan", shard_size=4)
    pairs = [(f"s{i:03d}", f"t{i:03d}") for i in range(50)]
    info = plan_render(job, pairs)
    everything = read_requests(job.url)
    read: list[list[int]] = []
    real = pq.ParquetFile.read_row_groups

    def spy(self, groups, *args, **kwargs):
        read.append(groups)
        return real(self, groups, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", spy)
    for index in range(info["shards"]):
        rows = read_requests(job.url, index).to_pylist()
        assert rows == [r for r in everything.to_pylist() if r["shard"] == index]
    assert info["shards"] == 13 and all(len(groups) == 1 for groups in read)
    assert read_requests(job.url, 99).num_rows == 0


def test_a_shard_indexes_only_the_manifests_holding_its_keys(tmp_path: Path, monkeypatch):
    """InputIndex.build(keys=...) reads only the manifests whose key range holds a wanted key,
    so a render shard's index does not grow with the data set; it equals the full index there."""
    from dpt_core import storage
    from dpt_core.data import shards
    from dpt_core.data.manifest import MANIFEST_SCHEMA, shards_folder
    from dpt_core.render import InputIndex

    root = str(tmp_path)
    for index in range(5):
        keys = [f"k{index}_{i}" for i in range(4)]
        for folder, schema in ((shards_folder(root, "d"), MANIFEST_SCHEMA),
                               (storage.join(root, "densepose", "d", "studio"), None)):  # fmt: skip
            tar = storage.join(folder, f"{shards.shard_name('d', index)}.tar")
            storage.write_bytes(tar, b"")
            rows = [{"key": k, "shard": shards.shard_name("d", index), "person_id": k[:2]}
                    for k in keys]  # fmt: skip
            shards.write_manifest(shards.shard_manifest_url(tar), rows, schema)
    full = InputIndex.build(root, "d", "studio")
    read: list[str] = []
    real = shards.read_manifest
    monkeypatch.setattr(shards, "read_manifest", lambda url, *a: read.append(url) or real(url, *a))
    some = InputIndex.build(root, "d", "studio", keys={"k3_1", "k3_2", "missing"})
    assert some.images == {k: full.images[k] for k in ("k3_1", "k3_2")}
    assert some.iuvs == {k: full.iuvs[k] for k in ("k3_1", "k3_2")}
    assert some.person == {"k3_1": "k3", "k3_2": "k3"}
    assert len(read) == 2 and all("d-00003" in url for url in read)
