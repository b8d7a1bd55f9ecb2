"""The shard-dataset stage end to end on local disk: content, failures, determinism, resume."""

from __future__ import annotations

import hashlib
import io
import json
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from data_builders import (
    jpeg_bytes,
    make_studio,
    noise_array,
    png_bytes,
    rgb_array,
    snapshot,
    write_files,
)
from PIL import Image

from dpt_core import storage
from dpt_core.data.images import NormalizeOptions
from dpt_core.data.manifest import read_dataset_manifest
from dpt_core.data.shards import iter_shard
from dpt_core.data.stage import (
    ShardConfig,
    plan_shards,
    shard_dataset,
    write_dataset_shard,
)

SHARDS = "datasets/photos/shards"


def run(src: Path, root: Path, **kwargs: object):
    config = kwargs.pop("config", ShardConfig(max_count=3))
    return shard_dataset("image-folder", str(src), str(root), "photos", config,
                         person_from_folder=True, **kwargs)  # fmt: skip


def test_photo_tree_end_to_end(photo_tree: Path, tmp_path: Path):
    root = tmp_path / "dpt"
    summary = run(photo_tree, root)
    assert (summary.shards, summary.written, summary.rejected) == (3, 5, 3)
    assert summary.by_reason == {"empty": 1, "not_image": 1, "truncated": 1}
    assert sorted(p.name for p in (root / SHARDS).glob("*.tar")) == [
        "photos-00000.tar", "photos-00001.tar", "photos-00002.tar",
    ]  # fmt: skip
    samples = {
        s["__key__"]: s for u in sorted((root / SHARDS).glob("*.tar")) for s in iter_shard(str(u))
    }
    assert sorted(samples) == ["alice__a1", "alice__a2", "alice__a3", "bob__b1", "bob__b_2"]
    assert set(samples["alice__a2"]) == {"__key__", "jpg", "json"}
    assert samples["alice__a1"]["png"] == (photo_tree / "alice/a1.png").read_bytes()
    meta = json.loads(samples["bob__b_2"]["json"])
    assert (meta["person_id"], meta["source"], meta["width"], meta["height"]) == (
        "bob", str(photo_tree / "bob/b.2.png"), 12, 16,
    )  # fmt: skip

    rows = {r["key"]: r for r in read_dataset_manifest(str(root), "photos").to_pylist()}
    assert set(rows) == set(samples)
    row = rows["alice__a2"]
    assert (row["shard"], row["format"], row["width"], row["height"]) == (
        "photos-00000",
        "jpg",
        16,
        24,
    )
    assert row["sha256"] == hashlib.sha256(samples["alice__a2"]["jpg"]).hexdigest()
    assert (row["bytes"], row["person_id"], row["transform"]) == (
        len(samples["alice__a2"]["jpg"]), "alice", "none",
    )  # fmt: skip

    failures = storage.read_failures(str(root), "shard", "photos")
    assert sorted((f.key, f.reason) for f in failures) == [
        ("bob__empty", "empty"), ("bob__notes", "not_image"), ("carol__c1", "truncated"),
    ]  # fmt: skip
    assert {f.source for f in failures} >= {str(photo_tree / "bob/notes.jpg")}
    stats = json.loads((root / "datasets/photos/_stats.json").read_bytes())
    assert (stats["written"], stats["rejected"], stats["shards"], stats["layout"]) == (
        5, 3, 3, "image-folder",
    )  # fmt: skip


def test_tar_members_sorted_and_fixed(photo_tree: Path, tmp_path: Path):
    run(photo_tree, tmp_path / "dpt")
    with tarfile.open(tmp_path / "dpt" / SHARDS / "photos-00001.tar") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [
        "bob__b1.json",
        "bob__b1.png",
        "bob__b_2.json",
        "bob__b_2.png",
    ]
    assert {(m.mtime, m.uid, m.gid) for m in members} == {(946_684_800, 0, 0)}


def test_shards_limited_by_count_and_bytes(tmp_path: Path):
    data = png_bytes(rgb_array(16, 16))
    src = write_files(tmp_path / "src", {f"{i}.png": data for i in range(5)})
    size = len(data)
    by_count = plan_shards("image-folder", str(src), str(tmp_path), "d", ShardConfig(max_count=2))
    assert [len(p.samples) for p in by_count.shards] == [2, 2, 1]
    by_bytes = ShardConfig(max_count=100, max_bytes=3 * size + 1)
    assert [len(p.samples) for p in plan_shards("image-folder", str(src), str(tmp_path), "d",
                                                by_bytes).shards] == [3, 2]  # fmt: skip
    tiny = ShardConfig(max_bytes=1)  # a sample larger than the limit still gets a shard
    assert len(plan_shards("image-folder", str(src), str(tmp_path), "d", tiny).shards) == 5


def test_duplicate_keys_and_bad_names_are_logged(tmp_path: Path):
    src = write_files(tmp_path / "src", {"x/a.b.png": png_bytes(rgb_array(8, 8, 1)),
                                         "x/a_b.png": png_bytes(rgb_array(8, 8, 2))})  # fmt: skip
    summary = shard_dataset("image-folder", str(src), str(tmp_path / "dpt"), "dups")
    assert (summary.written, summary.by_reason) == (1, {"duplicate_key": 1})
    (failure,) = storage.read_failures(str(tmp_path / "dpt"), "shard", "dups")
    assert failure.source == str(src / "x/a_b.png") and str(src / "x/a.b.png") in failure.detail


@pytest.mark.determinism
def test_same_input_same_bytes_serial_or_pool(photo_tree: Path, tmp_path: Path):
    run(photo_tree, tmp_path / "a", workers=1)
    run(photo_tree, tmp_path / "b", workers=2)
    a, b = snapshot(tmp_path / "a"), snapshot(tmp_path / "b")
    assert len(a) == 3 * 3 + 1 and a == b  # tar, parquet, stats per shard + _stats.json


def test_rerun_skips_committed_shards(photo_tree: Path, tmp_path: Path):
    root = tmp_path / "dpt"
    run(photo_tree, root)
    times = {p.name: p.stat().st_mtime_ns for p in (root / SHARDS).glob("*.tar")}
    before = snapshot(root)
    summary = run(photo_tree, root)
    assert summary.skipped_shards == 3 and summary.by_reason["truncated"] == 1
    assert {p.name: p.stat().st_mtime_ns for p in (root / SHARDS).glob("*.tar")} == times
    assert snapshot(root) == before
    assert run(photo_tree, root, overwrite=True).skipped_shards == 0
    assert snapshot(root) == before


@pytest.mark.determinism
def test_interrupted_run_resumes_to_identical_output(photo_tree: Path, tmp_path: Path):
    run(photo_tree, tmp_path / "whole")
    root = tmp_path / "crashed"
    config = ShardConfig(max_count=3)
    plan = plan_shards(
        "image-folder", str(photo_tree), str(root), "photos", config, person_from_folder=True
    )
    write_dataset_shard(plan.shards[0])  # committed before the crash
    (root / SHARDS / "photos-00001.tar").write_bytes(b"half a tar, no marker")
    (root / SHARDS / ".tmp-0123-photos-00002.tar").write_bytes(b"killed mid-write")
    summary = run(photo_tree, root)
    assert summary.skipped_shards == 1
    assert snapshot(root) == snapshot(tmp_path / "whole")


def test_changed_input_redoes_only_its_shard(photo_tree: Path, tmp_path: Path):
    root = tmp_path / "dpt"
    run(photo_tree, root)
    (photo_tree / "alice/a2.jpg").write_bytes(jpeg_bytes(rgb_array(30, 20, 9)))
    summary = run(photo_tree, root)
    assert summary.skipped_shards == 2
    row = next(
        r for r in read_dataset_manifest(str(root), "photos").to_pylist() if r["key"] == "alice__a2"
    )
    assert (row["width"], row["height"]) == (20, 30)


def test_smaller_dataset_removes_stale_shards(photo_tree: Path, tmp_path: Path):
    root = tmp_path / "dpt"
    run(photo_tree, root, config=ShardConfig(max_count=1))
    assert len(list((root / SHARDS).glob("*.tar"))) == 8
    run(photo_tree, root, config=ShardConfig(max_count=100))
    assert sorted(p.name for p in (root / SHARDS).iterdir()) == [
        "photos-00000.parquet", "photos-00000.tar", "photos-00000.tar.done.json",
        "photos-00000_stats.json",
    ]  # fmt: skip


def test_resize_is_recorded(photo_tree: Path, tmp_path: Path):
    config = ShardConfig(normalize=NormalizeOptions(size=(32, 32)))
    run(photo_tree, tmp_path / "dpt", config=config)
    rows = {r["key"]: r for r in read_dataset_manifest(str(tmp_path / "dpt"), "photos").to_pylist()}
    a1 = rows["alice__a1"]  # 16 wide x 24 high: scale 32/24, 21x32 placed at x = (32 - 21) // 2
    assert (a1["width"], a1["height"], a1["orig_width"], a1["orig_height"]) == (32, 32, 16, 24)
    assert (a1["transform"], a1["scale"], a1["pad_x"], a1["pad_y"]) == ("resize+pad", 32 / 24, 5, 0)
    shard = next(iter_shard(str(tmp_path / "dpt" / SHARDS / "photos-00000.tar")))
    assert Image.open(io.BytesIO(shard["png"])).size == (32, 32)


def test_studio_samples_carry_iuv_and_mask(tmp_path: Path):
    src = make_studio(tmp_path / "studio", identities=2, poses=1, views=2)
    summary = shard_dataset("studio", str(src), str(tmp_path / "dpt"), "studio")
    assert (summary.written, summary.rejected) == (4, 0)
    samples = list(iter_shard(str(tmp_path / "dpt/datasets/studio/shards/studio-00000.tar")))
    assert [s["__key__"] for s in samples][:2] == ["id00000_p000_v00", "id00000_p000_v01"]
    first = samples[0]
    assert set(first) == {"__key__", "png", "json", "iuv.png", "mask.png"}
    assert first["iuv.png"] == (src / "iuv/id00000_p000_v00.png").read_bytes()
    assert first["mask.png"] == (src / "masks/id00000_p000_v00.png").read_bytes()
    meta = json.loads(first["json"])
    # layout fields keep their native types in KEY.json (the studio's view is an int)
    assert (meta["person_id"], meta["view"], meta["pose"], meta["split"]) == (
        "id00000",
        0,
        "pose0",
        "train",
    )
    with pytest.raises(ValueError, match="misalign"):
        plan_shards(
            "studio",
            str(src),
            str(tmp_path),
            "s",
            ShardConfig(normalize=NormalizeOptions(size=(16, 16))),
        )


def test_bad_arguments_are_value_errors(photo_tree: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="name must match"):
        plan_shards("image-folder", str(photo_tree), str(tmp_path), "bad/name")
    with pytest.raises(ValueError, match="max_count"):
        ShardConfig(max_count=0)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        plan_shards("image-folder", str(tmp_path / "missing"), str(tmp_path))


_SHARD_SCRIPT = """
import sys
from dpt_core.data.stage import ShardConfig, shard_dataset
shard_dataset("image-folder", sys.argv[1], sys.argv[2], "big", ShardConfig(max_count=1))
"""


@pytest.mark.determinism
def test_killed_process_resumes_to_identical_output(tmp_path: Path):
    src = write_files(
        tmp_path / "src", {f"{i:03d}.png": png_bytes(noise_array(32, 32, i)) for i in range(60)}
    )
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", _SHARD_SCRIPT, str(src), str(killed)])
    marker = killed / "datasets/big/shards/big-00003.tar.done.json"
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if (killed / "datasets/big/_stats.json").exists():
        pytest.skip("the run finished before it could be killed")
    assert marker.exists(), "the run never committed a shard"
    summary = shard_dataset("image-folder", str(src), str(killed), "big", ShardConfig(max_count=1))
    assert 4 <= summary.skipped_shards < 60
    shard_dataset(
        "image-folder", str(src), str(tmp_path / "whole"), "big", ShardConfig(max_count=1)
    )
    assert snapshot(killed) == snapshot(tmp_path / "whole")
