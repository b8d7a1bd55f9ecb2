"""The eval stage against ground truth: exact renders, degraded renders, regions, textures."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from render_setup import BANK, DATASET, studio_truth

from dpt_core import render
from dpt_core.data import shards
from dpt_core.data.pairs import read_pairs
from dpt_core.evaluate import (
    IMAGE_BRANCHES,
    PART_COLUMNS,
    TEXTURE_BRANCHES,
    evaluate,
    evaluate_renders,
    part_l1,
    region_metrics,
    resample_atlas,
)
from dpt_core.render import RenderJob, plan_render

OFFSET = 20


def _degrade(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb.astype(np.int64) + OFFSET, 0, 255).astype(np.uint8)


def _gt_atlas(tiny_root, person: str, n: int = 16) -> np.ndarray:
    full = np.asarray(Image.open(tiny_root.studio / "atlases" / f"{person}.png").convert("RGB"))
    return resample_atlas(full, n)


@pytest.fixture(scope="module")
def crafted(tiny_root):
    """A render set whose predictive output is the target itself, blended is the target + 20
    (clipped), warped is black and the completed texture is the ground-truth atlas."""
    job = RenderJob(tiny_root.root, tiny_root.checkpoint, "crafted", branches=("pred", "warp"))
    plan_render(job, read_pairs(tiny_root.root, DATASET, "test").slice(0, 4))
    samples, rows = [], []
    for request in render.read_requests(job.url).to_pylist():
        truth = studio_truth(tiny_root.studio, request["target_key"])
        samples.append({
            "__key__": request["key"], "png": render.png_rgb(_degrade(truth.rgb)),
            "pred.png": render.png_rgb(truth.rgb),
            "warp.png": render.png_rgb(np.zeros_like(truth.rgb)),
            "tex.png": render.png_rgb(_gt_atlas(tiny_root, "id00002")),
        })  # fmt: skip
        rows.append({**request, "shard": "crafted-00000", "source_dataset": DATASET,
                     "target_dataset": DATASET, "person_id": "id00002",
                     "checkpoint": tiny_root.checkpoint, "step": 3, "members": "png"})  # fmt: skip
    url = render.shard_url(job, 0)
    shards.write_shard(url, samples)
    rows = [{k: r[k] for k in render.MANIFEST_SCHEMA.names} for r in rows]
    shards.write_manifest(shards.shard_manifest_url(url), rows, render.MANIFEST_SCHEMA)
    return job, evaluate_renders(job.url)


def _summary(result) -> dict[str, dict]:
    return {row["branch"]: row for row in result.summary}


def test_exact_render_scores_perfectly(crafted):
    _, result = crafted
    pred = _summary(result)["predictive"]
    assert pred["images"] == 4 and result.images == 4
    assert pred["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert pred["ssim_mask"] == pytest.approx(1.0, abs=1e-6)
    assert pred["l1"] == pred["l1_mask"] == pred["l1_body"] == pred["l1_outside"] == 0.0
    assert math.isinf(pred["psnr"])
    assert all(pred[c] in (0.0, None) for c in PART_COLUMNS)
    assert pred["ms_ssim"] is None and pred["lpips"] is None  # 64 px; no LPIPS weights


def test_degraded_render_matches_hand_computed_errors(tiny_root, crafted):
    job, result = crafted
    blended = _summary(result)["blended"]
    per_image = {"l1": [], "l1_mask": [], "l1_body": [], "l1_outside": []}
    parts = np.full((4, 24), np.nan)
    for i, request in enumerate(render.read_requests(job.url).to_pylist()):
        truth = studio_truth(tiny_root.studio, request["target_key"])
        error = np.abs(_degrade(truth.rgb).astype(float) - truth.rgb) / 255.0
        body = truth.iuv[..., 0] > 0
        regions = {"l1": np.ones_like(body), "l1_mask": truth.mask, "l1_body": body,
                   "l1_outside": truth.mask & ~body}  # fmt: skip
        for name, region in regions.items():
            per_image[name].append(error[region].mean())
        for p in np.unique(truth.iuv[..., 0][body]):
            parts[i, p - 1] = error[truth.iuv[..., 0] == p].mean()
    for name, values in per_image.items():
        assert blended[name] == pytest.approx(np.mean(values), abs=1e-6), name
    assert blended["l1"] == pytest.approx(OFFSET / 255, rel=0.05)  # few pixels clip at 255
    expected_parts = np.nanmean(parts, axis=0)
    got_parts = np.array([np.nan if blended[c] is None else blended[c] for c in PART_COLUMNS])
    np.testing.assert_allclose(got_parts, expected_parts, atol=1e-6)
    assert blended["ssim"] < 0.99
    warped = _summary(result)["warped"]
    assert warped["l1"] > blended["l1"]  # black everywhere is far worse than +20


def test_texture_error_of_the_true_atlas_is_zero(crafted):
    _, result = crafted
    summary = _summary(result)
    assert summary["texture"]["texture_error"] == 0.0
    for baseline in TEXTURE_BRANCHES[1:]:
        assert 0.01 < summary[baseline]["texture_error"] < 0.5
    parts = [summary["texture"][c] for c in PART_COLUMNS]
    assert all(p is None or p == 0.0 for p in parts) and any(p == 0.0 for p in parts)
    table = pq.read_table(result.metrics_url)
    assert table.num_rows == 4 * 3 + 4 * 6  # 3 image branches + texture and its 5 baselines
    assert set(table.column("branch").to_pylist()) == {*IMAGE_BRANCHES, *TEXTURE_BRANCHES}


def test_part_l1_and_regions_by_hand():
    iuv = torch.zeros(1, 3, 16, 16, dtype=torch.uint8)
    iuv[0, 0, 4:, :8], iuv[0, 0, 4:, 8:] = 1, 2  # rows 0-3 background
    target = torch.zeros(1, 3, 16, 16)
    pred = target.clone()
    pred[0, 0, 4:, :8], pred[0, 1, 4:, 8:] = 0.3, 0.6  # one channel off per part
    pred[0, 2, :4] = 0.9  # background rows
    parts = part_l1(pred, target, iuv)
    assert parts.shape == (1, 24)
    assert parts[0, :2].tolist() == pytest.approx([0.1, 0.2])
    assert torch.isnan(parts[0, 2:]).all()
    regions = region_metrics(pred, target, iuv, torch.ones(1, 1, 16, 16))
    assert regions["l1_body"].item() == pytest.approx(0.15)
    assert regions["l1_outside"].item() == pytest.approx(0.3)
    assert 0.0 < regions["ssim_body"].item() < 1.0
    empty = region_metrics(pred, target, iuv, torch.zeros(1, 1, 16, 16))
    assert torch.isnan(empty["l1_outside"]) and torch.isnan(empty["ssim_outside"])


def test_resample_atlas():
    rng = np.random.default_rng(0)
    atlas = rng.integers(0, 256, (6 * 8, 4 * 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resample_atlas(atlas, 8), atlas)
    flat = np.repeat(np.repeat(np.arange(24, dtype=np.uint8).reshape(4, 6).T, 10, 0), 10, 1)
    small = resample_atlas(np.repeat(flat[..., None], 3, 2), 4)
    assert small.shape == (24, 16, 3)
    np.testing.assert_array_equal(small[::4, ::4, 0], np.arange(24).reshape(4, 6).T)
    with pytest.raises(ValueError, match="atlas_rgb"):
        resample_atlas(np.zeros((10, 10, 3), np.uint8), 4)


def test_evaluate_a_run_renders_its_test_pairs(tiny_root):
    (result,) = evaluate(tiny_root.run_url, limit=3)
    assert result.render_url.endswith("/renders/tiny-run/test")
    assert result.images == 3
    assert {r["branch"] for r in result.summary} == {*IMAGE_BRANCHES, *TEXTURE_BRANCHES}
    with open(result.report_url, encoding="utf-8") as stream:
        html = stream.read()
    assert 'class="curve"' in html and "<title>l1</title>" in html  # training curve


def test_evaluate_pose_bank_set_has_textures_but_no_image_scores(tiny_root):
    job = RenderJob(tiny_root.root, tiny_root.checkpoint, "bank-eval", pose_bank=BANK,
                    branches=("tex",))  # fmt: skip
    render.render_requests(job, [("id00002_p000_v00", "id00000_p000_v00")])
    result = evaluate_renders(job.url)
    assert [r["branch"] for r in result.summary] == list(TEXTURE_BRANCHES)
    with open(result.report_url, encoding="utf-8") as stream:
        assert "target pose (IUV)" in stream.read()


def test_evaluate_names_a_bad_url(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        evaluate(str(tmp_path / "nothing-here"))
