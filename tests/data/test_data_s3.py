"""The data plane on S3 (an in-process moto server): same bytes as on disk, resume, readers."""

from __future__ import annotations

from pathlib import Path

import pytest
import webdataset as wds
from s3_server import s3_fixture

from dpt_core import storage
from dpt_core.data.pairs import make_pairs, read_pairs
from dpt_core.data.shards import iter_shard, register_webdataset_opener, shard_urls
from dpt_core.data.stage import ShardConfig, shard_dataset

s3 = s3_fixture()


@pytest.fixture
def s3_root(s3, request):
    storage.configure_s3(**s3.storage_options)
    yield f"{s3.bucket_url}/{request.node.name}"
    storage.configure_s3()


def run(src: str, root: str):
    return shard_dataset("image-folder", src, root, "photos", ShardConfig(max_count=3),
                         person_from_folder=True)  # fmt: skip


def test_shard_to_s3_matches_local_disk(photo_tree: Path, tmp_path: Path, s3_root: str):
    summary = run(str(photo_tree), s3_root)
    assert (summary.written, summary.by_reason) == (5, {"empty": 1, "not_image": 1, "truncated": 1})
    run(str(photo_tree), str(tmp_path / "local"))
    urls = shard_urls(f"{s3_root}/datasets/photos/shards")
    assert [u.rsplit("/", 1)[1] for u in urls] == [f"photos-0000{i}.tar" for i in range(3)]
    local = tmp_path / "local/datasets/photos/shards"
    for url in urls:
        assert storage.read_bytes(url) == (local / url.rsplit("/", 1)[1]).read_bytes()
    keys = [s["__key__"] for u in urls for s in iter_shard(u)]
    assert keys == ["alice__a1", "alice__a2", "alice__a3", "bob__b1", "bob__b_2"]
    failures = storage.read_failures(s3_root, "shard", "photos")
    assert sorted(f.reason for f in failures) == ["empty", "not_image", "truncated"]
    assert run(str(photo_tree), s3_root).skipped_shards == 3


def test_webdataset_reads_s3_shards_through_fsspec(photo_tree: Path, s3_root: str):
    run(str(photo_tree), s3_root)
    register_webdataset_opener()
    url = f"{s3_root}/datasets/photos/shards/photos-00000.tar"
    got = list(wds.WebDataset(url, shardshuffle=False))
    assert [s["__key__"] for s in got] == ["alice__a1", "alice__a2", "alice__a3"]
    assert got[0]["png"] == (photo_tree / "alice/a1.png").read_bytes()


def test_source_and_pairs_on_s3(photo_tree: Path, s3_root: str):
    src = f"{s3_root}/src"
    for path in sorted(p for p in photo_tree.rglob("*") if p.is_file()):
        storage.write_bytes(f"{src}/{path.relative_to(photo_tree)}", path.read_bytes())
    summary = run(src, f"{s3_root}/dst")
    assert (summary.written, summary.rejected) == (5, 3)
    make_pairs(f"{s3_root}/dst", "photos", test_fraction=0.0)
    train = read_pairs(f"{s3_root}/dst", "photos", "train")
    assert train.num_rows == 3 * 2 + 2 * 1  # alice: 3 images, bob: 2
