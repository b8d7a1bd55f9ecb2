"""Importing existing DensePose files: ours (KEY.iuv.png) and Detectron-1 (_IUV.png, _INDS.png)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dpt_core import iuv, storage
from dpt_core.data import shards
from dpt_core.densepose.extractors import PrecomputedExtractor, StudioExtractor
from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.precomputed import results_from_iuv, tight_box_xyxy
from dpt_core.densepose.stage import extract_shard, output_shard_url


def _two_people() -> tuple[np.ndarray, np.ndarray]:
    """A 6x8 Detectron-1 style IUV with two people and its INDS map (ranks 0 and 1)."""
    iuv_hw3 = np.zeros((6, 8, 3), dtype=np.uint8)
    inds = np.zeros((6, 8), dtype=np.uint8)
    iuv_hw3[1:4, 1:3] = [2, 10, 20]  # person of rank 0 (lower score): 6 pixels
    iuv_hw3[2:6, 4:7] = [23, 200, 100]  # person of rank 1 (best score): 12 pixels
    inds[2:6, 4:7] = 1  # rank 0 pixels stay 0, as Detectron-1 writes them
    return iuv_hw3, inds


def test_tight_box():
    mask = np.zeros((6, 8), dtype=bool)
    mask[2:5, 3:7] = True
    np.testing.assert_array_equal(tight_box_xyxy(mask), [3, 2, 7, 5])
    np.testing.assert_array_equal(tight_box_xyxy(np.zeros((2, 2), bool)), [0, 0, 0, 0])


def test_people_split_by_inds():
    iuv_hw3, inds = _two_people()
    (combined,) = results_from_iuv(iuv_hw3, inds, "all")
    np.testing.assert_array_equal(combined.iuv_hw3, iuv_hw3)
    np.testing.assert_array_equal(combined.boxes_xyxy, [[4, 2, 7, 6], [1, 1, 3, 4]])
    assert combined.n_detected == 2 and np.isnan(combined.scores).all()
    each = results_from_iuv(iuv_hw3, inds, "each")
    assert len(each) == 2
    best = np.zeros_like(iuv_hw3)
    best[2:6, 4:7] = [23, 200, 100]
    np.testing.assert_array_equal(each[0].iuv_hw3, best)  # highest rank first
    np.testing.assert_array_equal(each[1].iuv_hw3, iuv_hw3 - best)
    (largest,) = results_from_iuv(iuv_hw3, inds, "largest")
    np.testing.assert_array_equal(largest.iuv_hw3, best)
    assert results_from_iuv(np.zeros((4, 4, 3), np.uint8)) == []


def test_precomputed_stage_imports_both_formats(tmp_path, studio_root, studio_iuvs):
    keys = [s["__key__"] for s in shards.iter_shard(_input(studio_root))]
    folder = tmp_path / "dp"
    folder.mkdir()
    d1_iuv, d1_inds = _scaled_two_people(studio_iuvs[0].shape[:2])
    cv2.imwrite(str(folder / f"{keys[0]}_IUV.png"), d1_iuv)  # as Detectron-1 wrote it
    cv2.imwrite(str(folder / f"{keys[0]}_INDS.png"), d1_inds)
    iuv.write_iuv(str(folder / f"{keys[1]}.iuv.png"), studio_iuvs[1])
    options = ExtractOptions(source="precomputed", precomputed_url=str(folder), mode="each")
    summary = extract_shard(studio_root, "studio", 0, options)
    assert (summary["count"], summary["failures"]) == (3, 1)
    url = output_shard_url(studio_root, "studio", "precomputed", 0)
    out = {s["__key__"]: iuv.read_iuv(s["iuv.png"]) for s in shards.iter_shard(url)}
    assert sorted(out) == sorted([f"{keys[0]}_p00", f"{keys[0]}_p01", f"{keys[1]}_p00"])
    np.testing.assert_array_equal(out[f"{keys[1]}_p00"], studio_iuvs[1])
    np.testing.assert_array_equal(out[f"{keys[0]}_p00"] + out[f"{keys[0]}_p01"], d1_iuv)
    assert (out[f"{keys[0]}_p00"][..., 0] == 23).sum() == 48  # the best person comes first
    rows = shards.read_manifest(shards.shard_manifest_url(url)).to_pylist()
    assert {r["image_key"] for r in rows} == set(keys[:2])
    assert all(r["score"] is None and r["source"] == "precomputed" for r in rows)
    failures = storage.read_failures(studio_root, "extract", "studio")
    assert [(f.key, f.reason) for f in failures] == [(keys[2], "missing iuv")]


def _input(root: str) -> str:
    return storage.join(root, "datasets", "studio", "shards", "studio-00000.tar")


def _scaled_two_people(hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    iuv_hw3, inds = _two_people()
    big_iuv = np.zeros((*hw, 3), np.uint8)
    big_inds = np.zeros(hw, np.uint8)
    big_iuv[:12, :16] = np.kron(iuv_hw3, np.ones((2, 2, 1), np.uint8))
    big_inds[:12, :16] = np.kron(inds, np.ones((2, 2), np.uint8))
    return big_iuv, big_inds


def test_size_mismatch_and_bad_files_are_failures(tmp_path, studio_root):
    samples = list(shards.iter_shard(_input(studio_root)))
    folder = tmp_path / "dp"
    folder.mkdir()
    iuv.write_iuv(str(folder / f"{samples[0]['__key__']}.iuv.png"), np.zeros((5, 5, 3), np.uint8))
    (folder / f"{samples[1]['__key__']}_IUV.png").write_bytes(b"not a png")
    extractions = PrecomputedExtractor(str(folder)).extract(samples[:2])
    assert [e.reason for e in extractions] == ["size mismatch", "bad iuv"]
    with pytest.raises(FileNotFoundError, match="precomputed DensePose folder not found"):
        PrecomputedExtractor(str(tmp_path / "missing"))


def test_studio_extractor_validates_the_ground_truth(studio_root):
    samples = list(shards.iter_shard(_input(studio_root)))
    broken = dict(samples[0], **{"iuv.png": b"\x89PNG\r\n\x1a\ntruncated"})
    missing = {k: v for k, v in samples[1].items() if k != "iuv.png"}
    reasons = [e.reason for e in StudioExtractor().extract([broken, missing, samples[2]])]
    assert reasons == ["bad iuv", "missing iuv", "no person"]
