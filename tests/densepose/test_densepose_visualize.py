"""Part overlays and U/V contours: exact pixels on hand-built IUV images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dpt_core.densepose.visualize import (
    U_COLOR_MAP,
    panel,
    part_colors_rgb,
    parts_overlay,
    uv_contours,
)


def _ramp_iuv() -> np.ndarray:
    """4x9 IUV: part 5 everywhere, U ramps 0..255 across x, V constant."""
    iuv_hw3 = np.zeros((4, 9, 3), dtype=np.uint8)
    iuv_hw3[..., 0] = 5
    iuv_hw3[..., 1] = np.round(np.linspace(0, 255, 9)).astype(np.uint8)
    iuv_hw3[..., 2] = 128
    return iuv_hw3


def test_part_colours_are_distinct_and_background_black():
    colors = part_colors_rgb()
    assert colors.shape == (25, 3) and colors.dtype == np.uint8
    assert colors[0].tolist() == [0, 0, 0]
    assert len({tuple(c) for c in colors[1:]}) == 24


def test_parts_overlay_blends_body_only():
    image = np.full((4, 9, 3), 100, dtype=np.uint8)
    iuv_hw3 = _ramp_iuv()
    iuv_hw3[0, :4] = 0  # background pixels stay as they were
    out = parts_overlay(image, iuv_hw3, alpha=0.5)
    assert (out[0, :4] == 100).all()
    expected = np.round(0.5 * 100 + 0.5 * part_colors_rgb()[5].astype(np.float32))
    assert (out[1:, :] == expected.astype(np.uint8)).all()


def test_u_contours_sit_where_the_level_changes():
    image = np.zeros((4, 9, 3), dtype=np.uint8)
    iuv_hw3 = _ramp_iuv()
    out = uv_contours(image, iuv_hw3, levels=4)
    # U = 0, 32, 64, 96, 128, 159, 191, 223, 255 -> levels 0 0 1 1 2 2 2 3 3: edges at x 1, 3, 6
    drawn = out.any(axis=2)
    assert drawn[:, [1, 3, 6]].all() and not drawn[:, [0, 2, 4, 5, 7, 8]].any()
    colors = cv2.applyColorMap(iuv_hw3[..., 1], U_COLOR_MAP)[..., ::-1]
    np.testing.assert_array_equal(out[:, 3], colors[:, 3])


def test_no_contour_across_part_borders():
    iuv_hw3 = _ramp_iuv()
    iuv_hw3[..., 1] = 0
    iuv_hw3[:, 5:, 0] = 6  # new part, same U and V: nothing to draw
    iuv_hw3[:, 5:, 1] = 200  # a different U on the other part: still no line at the border
    out = uv_contours(np.zeros((4, 9, 3), np.uint8), iuv_hw3, levels=10)
    assert not out.any()


def test_panel_layout_and_errors():
    iuv_hw3 = _ramp_iuv()
    assert panel(None, iuv_hw3).shape == (4, 27, 3)
    with pytest.raises(ValueError, match="image_rgb"):
        parts_overlay(np.zeros((4, 8, 3), np.uint8), iuv_hw3)
    with pytest.raises(ValueError, match="levels"):
        uv_contours(np.zeros((4, 9, 3), np.uint8), iuv_hw3, levels=0)
