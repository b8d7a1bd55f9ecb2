"""Pairs: same person, different image; one split per person; PATN CSVs import."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from data_builders import jpeg_bytes, rgb_array, write_files
from hypothesis import given
from hypothesis import strategies as st

from dpt_core.data.pairs import (
    build_pairs,
    import_patn_pairs,
    make_pairs,
    person_pairs,
    read_pairs,
)
from dpt_core.data.stage import shard_dataset


def manifest(rows: list[tuple[str, str | None, str | None, str]]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"key": k, "person_id": p, "split": s, "flags": f} for k, p, s, f in rows]
    )


def pairs_of(table: pa.Table) -> list[tuple[str, str, str]]:
    return list(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))


TABLE = manifest(
    [
        ("a2", "A", "train", ""),
        ("a1", "A", "train", ""),
        ("a3", "A", "train", ""),
        ("b1", "B", "test", ""),
        ("b2", "B", "test", ""),
        ("c1", "C", "train", ""),  # alone: no pair
        ("j1", "-1", "test", "junk"),
        ("j2", "-1", "test", "junk"),
        ("n1", None, "train", ""),
    ]
)


def test_all_ordered_pairs_within_each_person():
    tables = build_pairs(TABLE)
    assert pairs_of(tables["train"]) == [
        ("a1", "a2", "A"), ("a1", "a3", "A"), ("a2", "a1", "A"),
        ("a2", "a3", "A"), ("a3", "a1", "A"), ("a3", "a2", "A"),
    ]  # fmt: skip
    assert pairs_of(tables["test"]) == [("b1", "b2", "B"), ("b2", "b1", "B")]


def test_max_per_person_takes_a_fixed_subset():
    full = set(pairs_of(build_pairs(TABLE)["train"]))
    capped = pairs_of(build_pairs(TABLE, max_per_person=4)["train"])
    assert len(capped) == 4 and set(capped) <= full
    assert capped == pairs_of(build_pairs(TABLE, max_per_person=4)["train"])


def test_persons_without_a_consistent_split_are_hashed_to_one():
    rows = [(f"{p}{i}", p, None, "") for p in "PQRSTUVWXYZ" for i in range(2)]
    rows += [("m1", "M", "train", ""), ("m2", "M", "test", "")]  # mixed: hashed too
    table = manifest(rows)
    half = build_pairs(table, test_fraction=0.5, seed=3)
    train = set(half["train"].column("person_id").to_pylist())
    test = set(half["test"].column("person_id").to_pylist())
    assert train.isdisjoint(test) and train | test == set("PQRSTUVWXYZM")
    assert train and test  # 12 persons at 1/2: both splits used
    assert pairs_of(half["test"]) == pairs_of(build_pairs(table, 0.5, seed=3)["test"])
    assert build_pairs(table, test_fraction=0.0)["test"].num_rows == 0
    assert build_pairs(table, test_fraction=1.0)["train"].num_rows == 0
    with pytest.raises(ValueError, match="test_fraction"):
        build_pairs(table, test_fraction=1.5)


def test_make_pairs_from_a_sharded_dataset(tmp_path: Path):
    jpg = jpeg_bytes(rgb_array(16, 12))
    src = write_files(tmp_path / "market", {
        "bounding_box_train/0002_c1s1_000451_03.jpg": jpg,
        "bounding_box_train/0002_c2s1_000551_01.jpg": jpg,
        "bounding_box_test/0007_c1s1_000100_01.jpg": jpg,
        "query/0007_c3s1_000200_01.jpg": jpg,
        "bounding_box_test/0000_c1s1_000001_01.jpg": jpg,
        "bounding_box_test/0000_c2s1_000002_01.jpg": jpg,
    })  # fmt: skip
    shard_dataset("market1501", str(src), str(tmp_path / "dpt"), "market")
    summary = make_pairs(str(tmp_path / "dpt"), "market")
    assert summary.pairs == {"train": 2, "test": 2} and summary.persons == {"train": 1, "test": 1}
    assert pairs_of(read_pairs(str(tmp_path / "dpt"), "market", "test")) == [
        ("bounding_box_test__0007_c1s1_000100_01", "query__0007_c3s1_000200_01", "0007"),
        ("query__0007_c3s1_000200_01", "bounding_box_test__0007_c1s1_000100_01", "0007"),
    ]  # distractors (0000) are never paired


def test_import_patn_pairs(tmp_path: Path):
    a = "fashionWOMENDressesid0000000202_1front.jpg"
    b = "fashionWOMENDressesid0000000202_2side.jpg"
    c = "fashionMENDenimid0000008001_4full.jpg"
    d = "fashionMENDenimid0000008001_1front.jpg"
    src = write_files(tmp_path / "fashion_data", {
        "fasion-resize-pairs-train.csv": f"from,to\n{a},{b}\n{b},{a}\n".encode(),
        "fasion-resize-pairs-test.csv": f"from,to\n{c},{d}\n".encode(),
        f"train/{a}": jpeg_bytes(rgb_array(16, 12)),
        f"train/{b}": jpeg_bytes(rgb_array(16, 12)),
        f"test/{c}": jpeg_bytes(rgb_array(16, 12)),
        f"test/{d}": b"broken",
    })  # fmt: skip
    root = str(tmp_path / "dpt")
    summary = import_patn_pairs(str(src), root, "patn")  # not sharded yet: all pairs kept
    assert summary.pairs == {"train": 2, "test": 1} and summary.dropped == 0
    assert pairs_of(read_pairs(root, "patn", "train"))[0] == (a[:-4], b[:-4], "id_00000002")
    shard_dataset("patn-pairs", str(src), root, "patn")  # d is rejected as not an image
    summary = import_patn_pairs(str(src), root, "patn")
    assert summary.pairs == {"train": 2, "test": 0} and summary.dropped == 1
    with pytest.raises(FileNotFoundError, match="fasion-resize-pairs-train"):
        import_patn_pairs(str(tmp_path), root, "patn")


@given(st.integers(0, 9), st.one_of(st.none(), st.integers(1, 80)))
def test_person_pairs_are_distinct_ordered_pairs(n: int, cap: int | None):
    src, tgt = person_pairs([f"k{i}" for i in range(n)], cap, "seed")
    pairs = list(zip(src.tolist(), tgt.tolist(), strict=True))
    assert all(0 <= a < n and 0 <= b < n and a != b for a, b in pairs)
    assert pairs == sorted(set(pairs))
    assert len(pairs) == (n * (n - 1) if cap is None else min(cap, n * (n - 1)))


def _sharded_manifest(root: Path, persons: int, per_person: int) -> pa.Table:
    """Shard manifests (and empty tars) of ``persons`` × ``per_person`` samples under ``root``."""
    from dpt_core import storage
    from dpt_core.data.manifest import MANIFEST_SCHEMA, shards_folder
    from dpt_core.data.shards import shard_manifest_url, write_manifest

    keys = [f"p{p:03d}_{i}" for p in range(persons) for i in range(per_person)]
    rows = [{"key": k, "person_id": k[:4], "split": "test" if k < "p010" else "train",
             "flags": ""} for k in keys]  # fmt: skip
    tar = storage.join(shards_folder(str(root), "many"), "many-00000.tar")
    storage.write_bytes(tar, b"")
    write_manifest(shard_manifest_url(tar), rows, MANIFEST_SCHEMA)
    return manifest([(r["key"], r["person_id"], r["split"], "") for r in rows])


def test_make_pairs_streams_person_by_person(tmp_path: Path, monkeypatch):
    """make_pairs never holds the whole pair table: it writes row groups of about ROW_GROUP
    pairs as persons come, and the files equal build_pairs' tables."""
    import pyarrow.parquet as pq

    from dpt_core.data import pairs as pairs_module

    expected = build_pairs(_sharded_manifest(tmp_path, persons=30, per_person=4))
    written: list[int] = []
    real_write = pq.ParquetWriter.write_table

    def spy(self, table, *args, **kwargs):
        written.append(table.num_rows)
        return real_write(self, table, *args, **kwargs)

    monkeypatch.setattr(pairs_module, "ROW_GROUP", 20)
    monkeypatch.setattr(pairs_module, "build_pairs", None)  # the whole-table path is not used
    monkeypatch.setattr(pq.ParquetWriter, "write_table", spy)
    summary = make_pairs(str(tmp_path), "many")
    assert summary.pairs == {"train": 240, "test": 120}
    assert summary.persons == {"train": 20, "test": 10}
    assert len(written) > 10 and max(written) < 20 + 12  # a row group plus one person's pairs
    for split in ("train", "test"):
        assert pairs_of(read_pairs(str(tmp_path), "many", split)) == pairs_of(expected[split])
