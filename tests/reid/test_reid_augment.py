"""End to end on a small Market-1501 tree of studio people: names, counts, untouched originals,
the manifest, resume, stale files, leaked identities and refusals."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from dpt_core import storage
from dpt_core.reid import augment_reid
from dpt_core.reid import stage as augment

MARKET_RE = re.compile(r"^([-\d]+)_c(\d)s(\d)_(\d{6})_(\d{2})\.jpg$")
TRAIN_PERSONS, TEST_PERSON, K = ("0002", "0004", "0006"), "0008", 3
FOLDERS = ("bounding_box_train", "bounding_box_test", "query")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _generated(dst: Path) -> list[str]:
    return [n for n in _files(dst / FOLDERS[0]) if MARKET_RE.match(n).group(3) == "9"]


def _manifest(dst: Path) -> list[dict]:
    return pq.read_table(dst / "augment_manifest.parquet").to_pylist()


def test_every_name_parses_like_market_1501_loaders_read_it(market_run):
    for folder in FOLDERS:
        for name in _files(market_run.dst / folder):
            if name == "Thumbs.db":
                continue
            pid, camera, _, _, _ = MARKET_RE.match(name).groups()  # the Market-1501 pattern
            assert -1 <= int(pid) <= 1501 and 1 <= int(camera) <= 6, name  # torchreid's asserts


def test_k_images_per_training_identity_and_none_for_others(market_run):
    persons = Counter(name[:4] for name in _generated(market_run.dst))
    assert persons == dict.fromkeys(TRAIN_PERSONS, K)
    summary = market_run.summary
    assert (summary.identities, summary.generated, summary.shards) == (3, 3 * K, 2)
    assert summary.failures == {}
    assert {r["person"] for r in _manifest(market_run.dst)}.isdisjoint({TEST_PERSON, "0000"})


def test_identity_and_camera_are_the_source_images(market_run):
    rows = _manifest(market_run.dst)
    for row in rows:
        person, camera, sequence, frame, box = MARKET_RE.match(row["name"]).groups()
        folder, source = row["source_name"].split("/")
        assert folder == "bounding_box_train"
        assert (person, camera) == MARKET_RE.match(source).groups()[:2]
        assert (sequence, int(frame), box) == ("9", row["index"], "01")
        assert int(camera) == row["source_camera"] and person == row["person"]
        assert (market_run.inputs.tree / row["source_name"]).is_file()
    indices = Counter((r["person"], r["index"]) for r in rows)
    assert set(indices.values()) == {1} and {i for _, i in indices} == set(range(K))


def test_test_query_and_train_originals_are_copied_untouched(market_run):
    tree = market_run.inputs.tree
    for folder in ("bounding_box_test", "query"):
        assert _files(market_run.dst / folder) == _files(tree / folder)  # same names, same bytes
    train = _files(market_run.dst / "bounding_box_train")
    originals = _files(tree / "bounding_box_train")
    assert {n: train[n] for n in originals} == originals
    assert len(train) == len(originals) + 3 * K


def test_manifest_is_complete(market_run):
    rows = _manifest(market_run.dst)
    files = _files(market_run.dst / "bounding_box_train")
    assert sorted(r["name"] for r in rows) == sorted(_generated(market_run.dst))
    bank = set(pq.read_table(Path(market_run.inputs.bank) / "manifest.parquet")["key"].to_pylist())
    for row in rows:
        data = files[row["name"]]
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (128, 64, 3) == (row["height"], row["width"], 3)
        assert row["target_key"] in bank and row["pose_bank"] == market_run.inputs.bank
        assert row["checkpoint"] == market_run.inputs.checkpoint and row["step"] == 5
        assert (
            row["checkpoint_sha256"]
            == hashlib.sha256(Path(market_run.inputs.checkpoint).read_bytes()).hexdigest()
        )
    targets = Counter((r["person"], r["target_key"]) for r in rows)
    assert set(targets.values()) == {1}  # K distinct poses per identity


def test_second_run_does_no_work(market_run, monkeypatch):
    def no_render(*args, **kwargs):
        raise AssertionError("a committed identity shard was rendered again")

    monkeypatch.setattr(augment, "render_requests", no_render)
    before = _files(market_run.dst / "bounding_box_train")
    summary = augment_reid(market_run.config)
    assert (summary.skipped_shards, summary.generated) == (2, 3 * K)
    assert summary.originals == {"written": 0, "kept": 27}  # 19 train, 5 gallery, 3 query
    assert _files(market_run.dst / "bounding_box_train") == before


def test_fewer_poses_replace_the_earlier_generated_files(market_run, make_config, tmp_path):
    dst = tmp_path / "dst"
    shutil.copytree(market_run.dst, dst)
    summary = augment_reid(make_config(dst, per_identity=2))
    persons = Counter(n[:4] for n in _generated(dst))
    assert persons == dict.fromkeys(TRAIN_PERSONS, 2) and summary.generated == 6
    assert len(_manifest(dst)) == 6
    removed = set(_generated(market_run.dst)) - set(_generated(dst))
    assert len(removed) == 3 and {int(n[10:16]) for n in removed} == {2}  # the third poses
    assert set(_generated(dst)) == {r["name"] for r in _manifest(dst)}


def test_an_identity_also_in_query_is_never_a_source(reid_inputs, make_config, tmp_path):
    src = tmp_path / "market"
    shutil.copytree(reid_inputs.tree, src)
    leaked = src / "query" / "0004_c2s1_000999_01.jpg"
    leaked.write_bytes((src / "bounding_box_train" / "0004_c2s1_000001_01.jpg").read_bytes())
    config = replace(make_config(tmp_path / "dst", identities_per_shard=8), src=str(src))
    summary = augment_reid(config)
    assert Counter(n[:4] for n in _generated(tmp_path / "dst")) == {"0002": K, "0006": K}
    assert summary.failures == {"test identity": 1}
    failures = storage.read_failures(str(tmp_path / "dst" / "_work"), "reid", "reid-market")
    assert [(f.key, f.reason) for f in failures] == [("0004", "test identity")]


def test_a_missing_checkpoint_fails_before_any_work(make_config, tmp_path):
    config = replace(make_config(tmp_path / "dst"), checkpoint=str(tmp_path / "no" / "step-1.pt"))
    with pytest.raises(FileNotFoundError, match=r"no/step-1\.pt"):
        augment_reid(config)
    assert not (tmp_path / "dst").exists()


def test_an_augmented_tree_is_refused_as_source(market_run, make_config, tmp_path):
    config = replace(make_config(tmp_path / "dst"), src=str(market_run.dst))
    with pytest.raises(ValueError, match="s9 reserved for generated images"):
        augment_reid(config)
