"""Post-processing to our IUV convention, on hand-built predictor outputs with known answers.

Boxes are 4x4 pixels and the outputs 4x4, so the bilinear resize is the identity and every
expected pixel is written down directly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpt_core.densepose.heads import ChartOutputs
from dpt_core.densepose.postprocess import chart_outputs_to_iuv, int_box_xywh

S = 4  # heatmap size == box size
IMAGE_HW = (10, 12)

# Person A: part labels (fine argmax) and the coarse foreground mask.
LABELS_A = np.array([[0, 3, 3, 0], [7, 7, 3, 0], [7, 7, 24, 24], [1, 1, 24, 2]])
FG_A = np.array([[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1], [0, 1, 1, 1]], dtype=bool)
# Person B: higher score, overlapping A's lower right corner.
LABELS_B = np.array([[5, 5, 5, 0], [5, 5, 5, 0], [6, 6, 6, 0], [6, 6, 6, 6]])
FG_B = np.ones((S, S), dtype=bool)


def _u_table(offset: float) -> np.ndarray:
    """(25, S, S) float32 distinct values in (0, 1): channel c, pixel (y, x)."""
    c, y, x = np.meshgrid(np.arange(25), np.arange(S), np.arange(S), indexing="ij")
    return ((offset + c * 16 + y * 4 + x) / 500.0).astype(np.float32)


def _outputs(labels: np.ndarray, fg: np.ndarray, n_coarse: int = 2) -> ChartOutputs:
    fine = np.zeros((25, S, S))
    np.put_along_axis(fine, labels[None], 5.0, axis=0)
    coarse = np.zeros((n_coarse, S, S))
    coarse[0] = 1.0
    coarse[n_coarse - 1] = np.where(fg, 3.0, 0.0)  # foreground class wins where fg
    u, v = _u_table(1.0), _u_table(100.0)
    tensors = [torch.tensor(a, dtype=torch.float32)[None] for a in (coarse, fine, u, v)]
    return ChartOutputs(*tensors)


def _cat(*outs: ChartOutputs) -> ChartOutputs:
    return ChartOutputs(*(torch.cat(ts) for ts in zip(*(o.tensors() for o in outs), strict=True)))


def _expected_person(labels: np.ndarray, fg: np.ndarray, x: int, y: int) -> np.ndarray:
    """Hand-pasted IUV of one person whose 4x4 box starts at (x, y), clipped to the image."""
    iuv_hw3 = np.zeros((*IMAGE_HW, 3), dtype=np.uint8)
    body = np.where(fg, labels, 0)
    yy, xx = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    u = _u_table(1.0)[body, yy, xx]
    v = _u_table(100.0)[body, yy, xx]
    u, v = (np.rint(t.astype(np.float64) * 255) * (body > 0) for t in (u, v))
    patch = np.stack([body, u, v], -1)
    h, w = min(S, IMAGE_HW[0] - y), min(S, IMAGE_HW[1] - x)
    iuv_hw3[y : y + h, x : x + w] = patch[:h, :w]
    return iuv_hw3


BOX_A = [1.7, 2.2, 5.9, 6.4]  # int box (1, 2, 4, 4)
BOX_B = [3.0, 4.0, 7.0, 8.0]  # int box (3, 4, 4, 4)


def test_int_box_truncates_corner_and_size():
    assert int_box_xywh(torch.tensor(BOX_A)) == (1, 2, 4, 4)
    assert int_box_xywh(np.array([5.0, 5.0, 5.2, 5.9])) == (5, 5, 1, 1)


def test_single_person_matches_hand_built_iuv():
    results = chart_outputs_to_iuv(
        _outputs(LABELS_A, FG_A), torch.tensor([BOX_A]), torch.tensor([0.9]), IMAGE_HW
    )
    assert len(results) == 1
    result = results[0]
    expected = _expected_person(LABELS_A, FG_A, 1, 2)
    np.testing.assert_array_equal(result.iuv_hw3, expected)
    assert result.iuv_hw3.dtype == np.uint8
    # labels = argmax(fine) only where coarse says person: (0, 3) is part 3 but background.
    assert result.iuv_hw3[2 + 3, 1 + 0, 0] == 0 and result.iuv_hw3[2 + 0, 1 + 1, 0] == 3
    assert result.iuv_hw3[2 + 1, 1, 1] == round(float(np.float32(117 / 500)) * 255)
    np.testing.assert_allclose(result.boxes_xyxy, [BOX_A])
    assert result.scores.tolist() == pytest.approx([0.9]) and result.n_detected == 1


def test_overlap_resolved_by_score_and_each_mode():
    outputs = _cat(_outputs(LABELS_A, FG_A), _outputs(LABELS_B, FG_B))
    boxes, scores = torch.tensor([BOX_A, BOX_B]), torch.tensor([0.6, 0.95])
    a, b = _expected_person(LABELS_A, FG_A, 1, 2), _expected_person(LABELS_B, FG_B, 3, 4)
    expected = np.where((b[..., 0] > 0)[..., None], b, a)  # B wins where B has a body
    (combined,) = chart_outputs_to_iuv(outputs, boxes, scores, IMAGE_HW, "all")
    np.testing.assert_array_equal(combined.iuv_hw3, expected)
    assert combined.scores.tolist() == pytest.approx([0.95, 0.6])
    np.testing.assert_allclose(combined.boxes_xyxy, [BOX_B, BOX_A])
    # Swapping scores: A now wins the overlap.
    (swapped,) = chart_outputs_to_iuv(outputs, boxes, scores.flip(0), IMAGE_HW, "all")
    np.testing.assert_array_equal(swapped.iuv_hw3, np.where((a[..., 0] > 0)[..., None], a, b))
    each = chart_outputs_to_iuv(outputs, boxes, scores, IMAGE_HW, "each")
    assert [r.scores.tolist() for r in each] == [pytest.approx([0.95]), pytest.approx([0.6])]
    np.testing.assert_array_equal(each[0].iuv_hw3, b)
    np.testing.assert_array_equal(each[1].iuv_hw3, a)
    assert all(r.n_detected == 2 for r in each)


def test_largest_mode_keeps_the_person_with_most_body_pixels():
    outputs = _cat(_outputs(LABELS_A, FG_A), _outputs(LABELS_B, FG_B))
    boxes, scores = torch.tensor([BOX_A, BOX_B]), torch.tensor([0.99, 0.5])
    (largest,) = chart_outputs_to_iuv(outputs, boxes, scores, IMAGE_HW, "largest")
    # A has 12 body pixels, B has 13: B is kept although its score is lower.
    assert int((LABELS_A * FG_A > 0).sum()) == 12 and int((LABELS_B > 0).sum()) == 13
    np.testing.assert_array_equal(largest.iuv_hw3, _expected_person(LABELS_B, FG_B, 3, 4))
    assert largest.scores.tolist() == pytest.approx([0.5])


def test_box_partly_outside_the_image_is_clipped():
    box = [9.5, 8.0, 13.5, 12.0]  # int box (9, 8, 4, 4): only 3 columns, 2 rows inside
    (result,) = chart_outputs_to_iuv(
        _outputs(LABELS_B, FG_B), torch.tensor([box]), torch.tensor([0.8]), IMAGE_HW
    )
    np.testing.assert_array_equal(result.iuv_hw3, _expected_person(LABELS_B, FG_B, 9, 8))


def test_resize_of_constant_outputs_and_uv_clamping():
    coarse = torch.tensor([0.0, 1.0]).view(1, 2, 1, 1).expand(1, 2, S, S)
    fine = torch.zeros(1, 25, S, S)
    fine[:, 7] = 1.0
    u = torch.full((1, 25, S, S), 0.25)
    v = torch.full((1, 25, S, S), 1.7)  # out of range: clamped to 1
    u[:, 7] = -0.3  # the chosen part's U is negative: clamped to 0
    outputs = ChartOutputs(coarse, fine, u, v)
    (result,) = chart_outputs_to_iuv(
        outputs, torch.tensor([[2.0, 1.0, 9.0, 6.0]]), torch.tensor([1.0]), IMAGE_HW
    )
    expected = np.zeros((*IMAGE_HW, 3), dtype=np.uint8)
    expected[1:6, 2:9] = [7, 0, 255]
    np.testing.assert_array_equal(result.iuv_hw3, expected)


def test_legacy_fifteen_coarse_channels():
    (result,) = chart_outputs_to_iuv(
        _outputs(LABELS_A, FG_A, n_coarse=15), torch.tensor([BOX_A]), torch.tensor([0.9]), IMAGE_HW
    )
    np.testing.assert_array_equal(result.iuv_hw3, _expected_person(LABELS_A, FG_A, 1, 2))


def test_no_body_pixels_means_no_person():
    empty_fg = np.zeros((S, S), dtype=bool)
    outputs = _outputs(LABELS_A, empty_fg)
    assert chart_outputs_to_iuv(outputs, torch.tensor([BOX_A]), torch.tensor([0.9]), IMAGE_HW) == []
    none = ChartOutputs(*(t[:0] for t in outputs.tensors()))
    assert chart_outputs_to_iuv(none, torch.zeros(0, 4), torch.zeros(0), IMAGE_HW) == []


def test_bad_arguments_are_named():
    outputs = _outputs(LABELS_A, FG_A)
    with pytest.raises(ValueError, match="mode"):
        chart_outputs_to_iuv(outputs, torch.tensor([BOX_A]), torch.tensor([0.9]), IMAGE_HW, "two")
    with pytest.raises(ValueError, match="boxes_xyxy"):
        chart_outputs_to_iuv(outputs, torch.tensor(BOX_A), torch.tensor([0.9]), IMAGE_HW)
