"""The agreement of two renders and the tolerance check every cross-run float test uses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpt_core.metrics import RENDER_TOLERANCE, Agreement, Tolerance, agreement, assert_agree


def _images() -> np.ndarray:
    return np.random.default_rng(0).integers(10, 240, (2, 40, 50, 3), dtype=np.uint8)


def test_figures_count_pixels_with_any_channel_off() -> None:
    a = _images()
    b = a.copy()
    b[0, 3, 4, 0] += 1  # one pixel, one channel
    b[1, 5, 6, :] -= 1  # one pixel, three channels
    found = agreement(a, b)
    assert found == Agreement(max_abs=1.0, fraction=2 / 4000, pixels=4000)
    per_value = agreement(a, b, channel_axis=None)
    assert (per_value.fraction, per_value.pixels) == (4 / 12000, 12000)
    assert agreement(torch.from_numpy(a), b) == found  # tensors and arrays alike
    assert agreement(a, a) == Agreement(0.0, 0.0, 4000)


def test_uint8_differences_do_not_wrap() -> None:
    a = np.zeros((1, 2, 2, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0, 0] = 255
    assert agreement(a, b).max_abs == 255 == agreement(b, a).max_abs


def test_render_tolerance_is_one_grey_level_on_all_but_a_thousandth_of_pixels() -> None:
    assert Tolerance(max_abs=1, max_fraction=1e-3) == RENDER_TOLERANCE
    a = _images()
    b = a.copy()
    b[0, 0, :4] += 1  # 4 of 4000 pixels: 0.1 %, inside
    assert assert_agree(a, b, what="renders").fraction == pytest.approx(1e-3)
    b[0, 0, 4] += 1  # 5 of 4000
    with pytest.raises(AssertionError, match=r"renders: max \|a-b\| = 1, 0.1250% of 4000"):
        assert_agree(a, b, what="renders")
    c = a.copy()
    c[1, 1, 1, 1] += 2  # one pixel, 2 grey levels
    with pytest.raises(AssertionError, match=r"max \|a-b\| = 2.*tolerance: max \|a-b\| <= 1"):
        assert_agree(a, c)
    assert assert_agree(a, c, Tolerance(max_abs=2, max_fraction=1e-3)).max_abs == 2


def test_bad_inputs_are_value_errors() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        agreement(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="empty"):
        agreement(np.zeros((0, 3)), np.zeros((0, 3)))
