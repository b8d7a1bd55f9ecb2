"""The shard plan on storage: same plan and same bytes whether or not the sort spills, one
row group per shard read alone, a replaced plan refused, no plan file left behind."""

from __future__ import annotations

import pickle
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from data_builders import make_studio, png_bytes, rgb_array, snapshot, write_files

from dpt_core import storage
from dpt_core.data import plan_store
from dpt_core.data.layouts import Rejected, get_layout
from dpt_core.data.stage import (
    ShardConfig,
    finalize_dataset,
    plan_shards,
    run_shards,
    shard_dataset,
    shared_plan_url,
)


@pytest.fixture
def dup_tree(tmp_path: Path) -> Path:
    """26 images over 3 folders, two keys taken twice, one bad name."""
    files = {f"p{p}/img{i:02d}.png": png_bytes(rgb_array(8, 8, 10 * p + i))
             for p in range(3) for i in range(8)}  # fmt: skip
    files["p1/img03.png.png"] = png_bytes(rgb_array(8, 8, 91))  # key p1__img03_png
    files["p1/img03_png.png"] = png_bytes(rgb_array(8, 8, 92))  # the same key: rejected
    files["p0/a.b.png"] = png_bytes(rgb_array(8, 8, 93))
    files["p0/a_b.png"] = png_bytes(rgb_array(8, 8, 94))  # key p0__a_b again: rejected
    files["p2/bad\x01.png"] = png_bytes(rgb_array(8, 8, 95))  # control character: bad_name
    return write_files(tmp_path / "src", files)


def _reference(src: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Keys and (source, reason) rejections by the plain in-memory rule: first in source
    order wins a key, samples sorted by key, rejections in source order."""
    seen, keys, rejected = set(), [], []
    for item in get_layout("image-folder").scan(str(src)):
        if isinstance(item, Rejected):
            rejected.append((item.source, item.reason))
        elif item.key in seen:
            rejected.append((item.url, "duplicate_key"))
        else:
            seen.add(item.key)
            keys.append(item.key)
    return sorted(keys), rejected


def _failure_rows(root: Path) -> list[tuple[str, str, str, str]]:
    return [(f.key, f.source, f.reason, f.detail)
            for f in storage.read_failures(str(root), "shard", "d")]  # fmt: skip


@pytest.mark.parametrize("run_rows", [1, 3, 1000])
def test_plan_follows_the_in_memory_rule_whether_or_not_the_sort_spills(
    dup_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_rows: int
):
    monkeypatch.setattr(plan_store, "RUN_ROWS", run_rows)
    plan = plan_shards("image-folder", str(dup_tree), str(tmp_path / "dpt"), "d",
                       ShardConfig(max_count=4))  # fmt: skip
    keys, rejected = _reference(dup_tree)
    assert [s.key for p in plan.shards for s in p.samples] == keys
    assert [(r.source, r.reason) for r in plan.rejected] == rejected
    assert [p.count for p in plan.shards] == [4] * 6 + [2]
    assert pq.ParquetFile(plan.plan_url).num_row_groups == len(plan.shards)


def test_spilled_sort_gives_the_same_bytes_and_failures(
    dup_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    config = ShardConfig(max_count=4)
    shard_dataset("image-folder", str(dup_tree), str(tmp_path / "whole"), "d", config)
    monkeypatch.setattr(plan_store, "RUN_ROWS", 2)
    shard_dataset("image-folder", str(dup_tree), str(tmp_path / "spilled"), "d", config)
    assert snapshot(tmp_path / "spilled") == snapshot(tmp_path / "whole")
    assert _failure_rows(tmp_path / "spilled") == _failure_rows(tmp_path / "whole")
    assert [r[2] for r in _failure_rows(tmp_path / "whole")] == ["duplicate_key", "duplicate_key",
                                                                 "bad_name"]  # fmt: skip


def test_a_shard_task_carries_no_samples_and_reads_only_its_row_group(
    dup_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    plan = plan_shards("image-folder", str(dup_tree), str(tmp_path / "dpt"), "d",
                       ShardConfig(max_count=4))  # fmt: skip
    task_argument = pickle.dumps(plan.shards[2])
    assert all(s.url.encode() not in task_argument for p in plan.shards for s in p.samples)
    read = []
    original = pq.ParquetFile.read_row_group

    def spy(self: pq.ParquetFile, i: int, *args: object, **kwargs: object):
        read.append(i)
        return original(self, i, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    samples = plan.shards[2].samples
    assert read == [2] and [s.key for s in samples] == ["p0__img07", "p1__img00", "p1__img01",
                                                         "p1__img02"]  # fmt: skip


def test_a_replaced_plan_file_is_refused(dup_tree: Path, tmp_path: Path):
    root = tmp_path / "dpt"
    plan_url = shared_plan_url(str(root), "d")
    old = plan_shards("image-folder", str(dup_tree), str(root), "d", ShardConfig(max_count=4),
                      plan_url)  # fmt: skip
    (dup_tree / "p0/img00.png").unlink()  # every later sample moves one place
    plan_shards("image-folder", str(dup_tree), str(root), "d", ShardConfig(max_count=4), plan_url)
    with pytest.raises(ValueError, match="no longer holds the planned samples"):
        len(old.shards[0].samples)


def test_the_plan_file_is_removed_once_the_data_set_is_final(dup_tree: Path, tmp_path: Path):
    root = tmp_path / "dpt"
    plan_url = shared_plan_url(str(root), "d")
    assert plan_url.startswith(str(root / "datasets/d/_plans/"))
    plan = plan_shards("image-folder", str(dup_tree), str(root), "d", ShardConfig(max_count=4),
                       plan_url)  # fmt: skip
    finalize_dataset(plan, run_shards(plan))
    assert not Path(plan_url).exists()
    local = plan_shards("image-folder", str(dup_tree), str(root), "d", ShardConfig(max_count=4))
    assert Path(local.plan_url).is_file()
    finalize_dataset(local, run_shards(local))
    assert not Path(local.plan_url).parent.exists()  # its local temp folder is gone too


def test_studio_manifest_out_of_key_order_plans_the_same(tmp_path: Path):
    src = make_studio(tmp_path / "studio", identities=3, poses=2, views=2)
    config = ShardConfig(max_count=5)
    sorted_plan = plan_shards("studio", str(src), str(tmp_path / "a"), "s", config)
    table = pq.read_table(src / "manifest.parquet")
    pq.write_table(table.take(list(range(table.num_rows))[::-1]), src / "manifest.parquet")
    shuffled = plan_shards("studio", str(src), str(tmp_path / "b"), "s", config)
    assert [p.fingerprint for p in shuffled.shards] == [p.fingerprint for p in sorted_plan.shards]
    assert [s for p in shuffled.shards for s in p.samples] == [
        s for p in sorted_plan.shards for s in p.samples
    ]
