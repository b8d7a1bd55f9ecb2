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


def _uv_tables(zero_u_part: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    u, v = _u_table(1.0), _u_table(100.0)
    if zero_u_part is not None:
        u[zero_u_part] = 0.0
    return u, v


def _outputs(
    labels: np.ndarray, fg: np.ndarray, n_coarse: int = 2, zero_u_part: int | None = None
) -> ChartOutputs:
    fine = np.zeros((25, S, S))
    np.put_along_axis(fine, labels[None], 5.0, axis=0)
    coarse = np.zeros((n_coarse, S, S))
    coarse[0] = 1.0
    coarse[n_coarse - 1] = np.where(fg, 3.0, 0.0)  # foreground class wins where fg
    u, v = _uv_tables(zero_u_part)
    tensors = [torch.tensor(a, dtype=torch.float32)[None] for a in (coarse, fine, u, v)]
    return ChartOutputs(*tensors)


def _cat(*outs: ChartOutputs) -> ChartOutputs:
    return ChartOutputs(*(torch.cat(ts) for ts in zip(*(o.tensors() for o in outs), strict=True)))


def _level(x: np.ndarray) -> np.ndarray:
    """detectron2's quantisation, written out: uint8((float32(x) * 255).clamp(0, 255))."""
    return np.trunc(np.clip(x.astype(np.float32) * np.float32(255), 0, 255))


def _expected_person(
    labels: np.ndarray, fg: np.ndarray, x: int, y: int, zero_u_part: int | None = None
) -> np.ndarray:
    """Hand-pasted IUV of one person whose 4x4 box starts at (x, y), clipped to the image."""
    iuv_hw3 = np.zeros((*IMAGE_HW, 3), dtype=np.uint8)
    body = np.where(fg, labels, 0)
    yy, xx = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    u_table, v_table = _uv_tables(zero_u_part)
    u, v = (_level(t[body, yy, xx]) * (body > 0) for t in (u_table, v_table))
    patch = np.stack([body, u, v], -1)
    h, w = min(S, IMAGE_HW[0] - y), min(S, IMAGE_HW[1] - x)
    iuv_hw3[y : y + h, x : x + w] = patch[:h, :w]
    return iuv_hw3


BOX_A = [1.7, 2.2, 5.9, 6.4]  # int box (1, 2, 4, 4)
BOX_B = [3.0, 4.0, 7.0, 8.0]  # int box (3, 4, 4, 4)


def test_int_box_truncates_corner_and_size():
    assert int_box_xywh(torch.tensor(BOX_A)) == (1, 2, 4, 4)
    assert int_box_xywh(np.array([5.0, 5.0, 5.2, 5.9])) == (5, 5, 1, 1)


def test_int_box_size_is_subtracted_in_float32():
    # detectron2: BoxMode.convert on the float32 tensor, then .long(). float32(100.1) is
    # 100.09999847, float32(0.1) is 0.10000000149; their difference 99.99999846 is closer to
    # float32 100.0 than to 99.99999237, so the width is 100 (doubles would truncate to 99).
    assert int(float(np.float32(100.1)) - float(np.float32(0.1))) == 99
    assert int_box_xywh(torch.tensor([0.1, 0.0, 100.1, 50.0])) == (0, 0, 100, 50)
    assert int_box_xywh(np.array([0.1, 0.0, 100.1, 50.0])) == (0, 0, 100, 50)
    assert int_box_xywh(torch.tensor([-0.5, 3.9, 2.0, 3.95])) == (0, 3, 2, 1)  # toward zero


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
    # U of part 7 at (1, 0): float32(117 / 500) * 255 = 59.67 -> 59 (truncated, not 60)
    assert result.iuv_hw3[2 + 1, 1, 1] == 59
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


def test_detectron_overlap_rule_fills_only_empty_values():
    # Detectron's _IUV.png writer: score > 0.65 only, ascending score, and every value
    # (I, U, V separately) still 0 is filled by the next person. A's part 24 has U = 0.
    a_out = _outputs(LABELS_A, FG_A, zero_u_part=24)
    c_box = [8.0, 0.0, 12.0, 4.0]  # C: apart from A and B, but scores 0.6
    outputs = _cat(a_out, _outputs(LABELS_B, FG_B), _outputs(LABELS_B, FG_B))
    boxes = torch.tensor([BOX_A, BOX_B, c_box])
    scores = torch.tensor([0.7, 0.95, 0.6])
    a = _expected_person(LABELS_A, FG_A, 1, 2, zero_u_part=24)
    b = _expected_person(LABELS_B, FG_B, 3, 4)
    (got,) = chart_outputs_to_iuv(outputs, boxes, scores, IMAGE_HW, "all", overlap="detectron")
    np.testing.assert_array_equal(got.iuv_hw3, np.where(a == 0, b, a))
    # Pixel (y 4, x 3): A's part 24 (U = 0) under B's part 5: I and V stay A's, U is B's.
    assert a[4, 3].tolist()[:2] == [24, 0] and b[4, 3, 0] == 5
    assert got.iuv_hw3[4, 3].tolist() == [24, b[4, 3, 1], a[4, 3, 2]]
    assert got.scores.tolist() == pytest.approx([0.95, 0.7]) and got.n_detected == 3
    np.testing.assert_allclose(got.boxes_xyxy, [BOX_B, BOX_A])
    # Our default rule on the same input: B (higher score) takes its whole body pixels.
    (ours,) = chart_outputs_to_iuv(outputs, boxes, scores, IMAGE_HW, "all")
    assert ours.iuv_hw3[4, 3].tolist() == b[4, 3].tolist()
    with pytest.raises(ValueError, match="mode 'all' only"):
        chart_outputs_to_iuv(outputs, boxes, scores, IMAGE_HW, "each", overlap="detectron")


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
    with pytest.raises(ValueError, match="overlap"):
        chart_outputs_to_iuv(
            outputs, torch.tensor([BOX_A]), torch.tensor([0.9]), IMAGE_HW, overlap="first"
        )
    with pytest.raises(ValueError, match="boxes_xyxy"):
        chart_outputs_to_iuv(outputs, torch.tensor(BOX_A), torch.tensor([0.9]), IMAGE_HW)
