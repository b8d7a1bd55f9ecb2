"""The extract stage: IUV shards + manifests from studio, detectron2 and precomputed sources."""

from __future__ import annotations

import numpy as np
import pytest

from dpt_core import iuv, storage
from dpt_core.data import shards
from dpt_core.densepose.extractors import Detectron2Extractor
from dpt_core.densepose.options import ExtractOptions, detection_settings
from dpt_core.densepose.stage import extract_dataset, extract_shard, output_shard_url

DATASET = "studio"  # as written by the studio_root fixture
BLANK_KEY = "id00099_p000_v00"  # its sample without a person


def _read_output(root: str, source: str) -> tuple[dict[str, np.ndarray], list[dict]]:
    url = output_shard_url(root, DATASET, source, 0)
    samples = {s["__key__"]: iuv.read_iuv(s["iuv.png"]) for s in shards.iter_shard(url)}
    rows = shards.read_manifest(shards.shard_manifest_url(url)).to_pylist()
    return samples, rows


def test_studio_source_passes_ground_truth_through(studio_root, studio_batch, studio_iuvs):
    summary = extract_shard(studio_root, DATASET, 0, ExtractOptions(source="studio"))
    assert summary["skipped"] is False and summary["count"] == 2 and summary["failures"] == 1
    samples, rows = _read_output(studio_root, "studio")
    assert sorted(samples) == sorted(studio_batch.keys)
    for key, truth in zip(studio_batch.keys, studio_iuvs, strict=True):
        np.testing.assert_array_equal(samples[key], truth)
    by_key = {row["key"]: row for row in rows}
    for key, truth in zip(studio_batch.keys, studio_iuvs, strict=True):
        row = by_key[key]
        body = truth[..., 0] > 0
        ys, xs = np.nonzero(body)
        assert row["coverage"] == pytest.approx(body.mean(), rel=1e-6)
        assert (row["bbox_x0"], row["bbox_y0"]) == (xs.min(), ys.min())
        assert (row["bbox_x1"], row["bbox_y1"]) == (xs.max() + 1, ys.max() + 1)
        assert row["score"] == 1.0 and row["n_people"] == 1 and row["iuv"] == f"{key}.iuv.png"
        assert (row["height"], row["width"]) == truth.shape[:2]
    failures = storage.read_failures(studio_root, "extract", DATASET)
    assert [(f.key, f.reason) for f in failures] == [(BLANK_KEY, "no person")]


def test_resume_skips_committed_shard_and_redoes_on_change(studio_root):
    options = ExtractOptions(source="studio")
    first = extract_shard(studio_root, DATASET, 0, options)
    again = extract_shard(studio_root, DATASET, 0, options)
    assert again["skipped"] is True and again["count"] == first["count"]
    assert again["sha256"] == first["sha256"]
    # how it runs (batch size, device) does not decide the output: still up to date
    faster = extract_shard(studio_root, DATASET, 0, ExtractOptions(source="studio", batch_size=1))
    assert faster["skipped"] is True
    changed = extract_shard(studio_root, DATASET, 0, ExtractOptions(source="studio", mode="each"))
    assert changed["skipped"] is False
    samples, rows = _read_output(studio_root, "studio")
    assert all(key.endswith("_p00") for key in samples) and {r["person"] for r in rows} == {0}
    # a failure already logged is not logged twice
    assert len(storage.read_failures(studio_root, "extract", DATASET)) == 1


def test_detectron2_source_writes_model_iuvs(studio_root, r50_weights, r50_model, monkeypatch):
    box_predictor = r50_model.model.roi_heads.box_predictor
    monkeypatch.setattr(box_predictor, "test_topk_per_image", 1)  # keep the CPU test short
    options = ExtractOptions(
        source="detectron2", weights=r50_weights, score_threshold=0.5, max_people=1, min_size=0
    )
    extractor = Detectron2Extractor(r50_model, "all", batch_size=2)
    summary = extract_shard(studio_root, DATASET, 0, options, extractor)
    assert summary["count"] == 3 and summary["failures"] == 0  # random weights see people
    samples, rows = _read_output(studio_root, "detectron2")
    assert set(samples) == {r["key"] for r in rows} and len(rows) == 3
    for row in rows:
        labels = samples[row["key"]][..., 0]
        assert labels.shape == (128, 128) and labels.max() <= 24
        assert row["coverage"] == pytest.approx((labels > 0).mean(), rel=1e-6)
        assert row["score"] >= 0.5 and row["n_people"] == 1
    # nobody passes a 0.99 threshold: every image is a "no person" failure
    monkeypatch.setattr(box_predictor, "test_score_thresh", 0.99)
    strict = ExtractOptions(source="detectron2", weights=r50_weights, score_threshold=0.99)
    summary = extract_shard(studio_root, DATASET, 0, strict, Detectron2Extractor(r50_model))
    assert (summary["count"], summary["failures"]) == (0, 3)
    reasons = {f.reason for f in storage.read_failures(studio_root, "extract", DATASET)}
    assert reasons == {"no person"}


def test_extract_dataset_and_missing_inputs(studio_root, tmp_path):
    summaries = extract_dataset(studio_root, DATASET, ExtractOptions(source="studio"))
    assert [s["count"] for s in summaries] == [2]
    with pytest.raises(FileNotFoundError, match="dataset shard not found"):
        extract_shard(studio_root, DATASET, 7, ExtractOptions(source="studio"))
    with pytest.raises(FileNotFoundError, match="no shard folder"):
        extract_dataset(str(tmp_path), "nothing", ExtractOptions(source="studio"))


def test_options_are_validated():
    with pytest.raises(ValueError, match="weights: required"):
        ExtractOptions(source="detectron2")
    with pytest.raises(ValueError, match="precomputed_url"):
        ExtractOptions(source="precomputed")
    with pytest.raises(ValueError, match="source"):
        ExtractOptions(source="openpose")
    with pytest.raises(ValueError, match="mode"):
        ExtractOptions(mode="biggest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="overlap: expected one of"):
        ExtractOptions(overlap="first")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs source 'detectron2' and mode 'all'"):
        ExtractOptions(overlap="detectron")  # studio ground truth has nobody to combine
    assert ExtractOptions(source="detectron2", weights="w", overlap="detectron").overlap


def test_detection_presets():
    assert detection_settings() == (0.8, 10)  # the ExtractOptions defaults
    assert (ExtractOptions().score_threshold, ExtractOptions().max_people) == (0.8, 10)
    # detectron2's MODEL.ROI_HEADS.SCORE_THRESH_TEST and TEST.DETECTIONS_PER_IMAGE defaults,
    # which apply_net.py dump does not override
    assert detection_settings("apply-net-dump") == (0.05, 100)
    from detectron2.config import get_cfg

    cfg = get_cfg()
    assert (cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST, cfg.TEST.DETECTIONS_PER_IMAGE) == (0.05, 100)
    assert detection_settings("apply-net-show", max_people=3) == (0.8, 3)
    with pytest.raises(ValueError, match="detections: expected one of dpt"):
        detection_settings("official")
