"""Batched DensePose R-CNN inference on studio renders with random official-format weights."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from dpt_core import iuv
from dpt_core.densepose.model import same_size_batches
from dpt_core.densepose.postprocess import chart_outputs_to_iuv


@pytest.fixture(scope="module")
def predictions(r50_model, studio_images):
    return r50_model.predict(studio_images, mode="all", batch_size=2)


def test_forward_gives_box_relative_chart_outputs(r50_model, studio_images):
    instances = r50_model.forward(studio_images[:1])
    assert len(instances) == 1
    inst = instances[0]
    assert inst.image_size == studio_images[0].shape[:2]
    n = len(inst)
    assert 1 <= n <= 2  # TEST.DETECTIONS_PER_IMAGE = 2
    dp = inst.pred_densepose
    assert tuple(dp.coarse_segm.shape) == (n, 2, 112, 112)
    for t in (dp.fine_segm, dp.u, dp.v):
        assert tuple(t.shape) == (n, 25, 112, 112)
    assert float(inst.scores.min()) >= 0.5


def test_batched_predictions_follow_the_iuv_convention(predictions, studio_images):
    assert len(predictions) == len(studio_images)
    for image, results in zip(studio_images, predictions, strict=True):
        assert len(results) == 1  # mode "all": one IUV per image
        result = results[0]
        iuv_hw3 = result.iuv_hw3
        assert iuv_hw3.shape == image.shape and iuv_hw3.dtype == np.uint8
        labels = iuv_hw3[..., 0]
        assert labels.max() <= 24 and (labels > 0).any()
        assert not iuv_hw3[labels == 0][:, 1:].any()  # U = V = 0 off the body
        h, w = image.shape[:2]
        boxes = result.boxes_xyxy
        assert boxes.dtype == np.float32 and boxes.shape == (len(result.scores), 4)
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
        assert 1 <= result.n_detected <= 2


def test_iuv_png_reads_back_as_densepose_tools_do(predictions):
    iuv_hw3 = predictions[0][0].iuv_hw3
    data = iuv.encode_iuv_png(iuv_hw3)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(decoded, iuv_hw3)  # cv2 order: I, U, V
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    np.testing.assert_array_equal(rgb[..., 2], iuv_hw3[..., 0])  # PIL: B = I
    np.testing.assert_array_equal(rgb[..., 0], iuv_hw3[..., 2])  # PIL: R = V


def test_each_mode_gives_one_iuv_per_person(r50_model, studio_images):
    results = r50_model.predict(studio_images[:1], mode="each")[0]
    assert len(results) == results[0].n_detected
    assert all(len(r.scores) == 1 for r in results)
    scores = [float(r.scores[0]) for r in results]
    assert scores == sorted(scores, reverse=True)


def test_bad_images_are_named(r50_model, studio_images):
    with pytest.raises(ValueError, match=r"images_rgb\[1\].*uint8"):
        r50_model.predict([studio_images[0], studio_images[1].astype(np.float32)])
    with pytest.raises(ValueError, match=r"images_rgb\[0\].*\(H, W, 3\)"):
        r50_model.predict([studio_images[0][..., 0]])
    with pytest.raises(ValueError, match="batch_size"):
        r50_model.predict(studio_images, batch_size=0)


def test_same_size_batches_group_and_keep_order():
    a, b, c = (np.zeros(shape, np.uint8) for shape in [(4, 5, 3), (6, 5, 3), (5, 4, 3)])
    images = [a, b, a, c, a, b, a]
    assert same_size_batches(images, 2) == [[0, 2], [4, 6], [1, 5], [3]]
    assert same_size_batches(images, 8) == [[0, 2, 4, 6], [1, 5], [3]]
    assert same_size_batches([], 3) == []


# Same-size images share one forward pass: no padding difference, but the CPU convolution
# kernels (oneDNN) are chosen by batch size, so values differ by float rounding (measured:
# boxes < 0.005 px, U/V one level on < 0.02 % of pixels). The tolerance below allows that
# and nothing more: padding a 100x90 image into a 128x128 batch moves its box by ~50 px and
# changes ~10 % of its labels (checked below on the bare, padded forward).
BOX_TOLERANCE_PX = 0.05
UV_CHANGED_MAX = 0.001  # fraction of pixels whose U or V level differs (by at most 1)


def _crop(image: np.ndarray, y: int, x: int) -> np.ndarray:
    return np.ascontiguousarray(image[y : y + 100, x : x + 90])


def _assert_close(batched, alone) -> None:
    assert len(batched) == len(alone)
    for got, ref in zip(batched, alone, strict=True):
        assert got.n_detected == ref.n_detected
        np.testing.assert_allclose(got.boxes_xyxy, ref.boxes_xyxy, atol=BOX_TOLERANCE_PX)
        np.testing.assert_allclose(got.scores, ref.scores, atol=1e-4)
        np.testing.assert_array_equal(got.iuv_hw3[..., 0], ref.iuv_hw3[..., 0])
        duv = np.abs(got.iuv_hw3[..., 1:].astype(int) - ref.iuv_hw3[..., 1:].astype(int))
        assert duv.max() <= 1 and (duv > 0).any(axis=-1).mean() <= UV_CHANGED_MAX


def test_mixed_size_batch_equals_one_image_at_a_time(r50_model, studio_images):
    big_a, big_b = studio_images
    images = [big_a, _crop(big_b, 8, 20), big_b, _crop(big_a, 10, 30)]
    alone = [r50_model.predict([image], batch_size=1)[0] for image in images]
    batched = r50_model.predict(images, batch_size=4)
    for got, ref in zip(batched, alone, strict=True):
        _assert_close(got, ref)
    # Without grouping, padding changes the small images far beyond that tolerance.
    padded = r50_model.forward(images)
    moved = []
    for k in (1, 3):
        inst = padded[k]
        best = chart_outputs_to_iuv(
            inst.pred_densepose, inst.pred_boxes.tensor, inst.scores, images[k].shape[:2]
        )[0]
        moved.append((best.iuv_hw3[..., 0] != alone[k][0].iuv_hw3[..., 0]).mean())
    assert max(moved) > 0.05
