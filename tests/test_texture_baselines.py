"""Texture-completion baselines and the per-part error, checked on hand-made 3×3-tile atlases."""

from __future__ import annotations

import numpy as np
import pytest

from dpt_core import metrics

N = 3  # tiles of 3×3 texels: part p at rows 3·((p-1) % 6), cols 3·((p-1) // 6)


def _blank() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((6 * N, 4 * N, 3), np.uint8), np.zeros((6 * N, 4 * N), bool)


def test_nearest_visible_fill_copies_the_closest_seen_texel_of_the_same_part() -> None:
    atlas, seen = _blank()
    atlas[0, 0], atlas[2, 2] = 10, 200  # part 1 (rows 0-2, cols 0-2): two seen corners
    seen[0, 0] = seen[2, 2] = True
    atlas[3, 0] = 90  # part 2 (rows 3-5): must not leak into part 1
    seen[3, 0] = True
    filled = metrics.nearest_visible_fill(atlas, seen, N)
    assert filled[0, 1, 0] == 10 and filled[1, 0, 0] == 10  # distance 1 from (0, 0)
    assert filled[2, 1, 0] == 200 and filled[1, 2, 0] == 200  # distance 1 from (2, 2)
    assert (filled[3:6, 0:3] == 90).all()  # one seen texel: the whole tile
    assert (filled[6:9, 0:3] == round((10 + 200 + 90) / 3)).all()  # nothing seen: global mean
    assert filled[0, 0, 0] == 10 and filled[2, 2, 0] == 200  # seen texels unchanged


def test_mirrored_part_fill_uses_the_twin_at_the_same_uv_else_the_part_mean() -> None:
    atlas, seen = _blank()
    atlas[9, 0], seen[9, 0] = 50, True  # part 4 (left hand, rows 9-11) sees its (0, 0)
    atlas[6, 1], seen[6, 1] = 120, True  # part 3 (right hand, rows 6-8) sees its (0, 1)
    filled = metrics.mirrored_part_fill(atlas, seen, N)
    assert filled[6, 0, 0] == 50  # part 3's (0, 0) from part 4's (0, 0)
    assert filled[9, 1, 0] == 120  # and the other way round
    assert filled[7, 2, 0] == 120  # twin unseen there: part 3's own mean
    assert filled[10, 2, 0] == 50
    torso = metrics.mirrored_part_fill(*_blank(), N)[0:3, 0:3]
    assert (torso == 0).all()  # torso has no twin; nothing seen anywhere: 0


def test_texture_error_by_part_by_hand() -> None:
    gt, seen = _blank()
    pred = gt.copy()
    pred[0, 0] = 51  # part 1, unseen: error 51/255 = 0.2 on 1 of 9 texels
    seen[3:6, 0:3] = True  # part 2 fully seen: NaN
    errors = metrics.texture_error_by_part(pred, gt, seen, N)
    assert errors.shape == (24,)
    assert errors[0] == pytest.approx(0.2 / 9)
    assert np.isnan(errors[1]) and errors[2] == 0.0
    with pytest.raises(ValueError, match="expected n=2"):
        metrics.texture_error_by_part(pred, gt, seen, 2)


def test_push_pull_fill_interpolates_within_the_part_by_hand() -> None:
    n = 4
    atlas, seen = np.zeros((6 * n, 4 * n, 3)), np.zeros((6 * n, 4 * n), bool)
    atlas[0, 0], atlas[3, 3] = 0.4, 0.8  # part 1 sees two opposite corners
    seen[0, 0] = seen[3, 3] = True
    atlas[12, 1], seen[12, 1] = 0.3, True  # part 4 (rows 12-15, cols 0-3) sees one texel
    filled = metrics.push_pull_fill(atlas, seen, n)
    # 2×2 level: [[0.4, 0.6], [0.6, 0.8]] (0.6 the 1×1 mean), then bilinear up to 4×4
    assert filled[0, 1, 0] == pytest.approx(0.45) and filled[1, 1, 0] == pytest.approx(0.5)
    assert filled[2, 2, 0] == pytest.approx(0.7) and filled[0, 3, 0] == pytest.approx(0.6)
    assert filled[0, 0, 0] == 0.4 and filled[3, 3, 0] == 0.8  # seen texels unchanged
    np.testing.assert_allclose(filled[8:12, 0:4], 0.3)  # part 3: unseen, its twin part 4's fill
    np.testing.assert_allclose(filled[4:8, 0:4], filled[0:4, 0:4])  # torso halves are partners
    np.testing.assert_allclose(filled[16:20, 0:4], (0.4 + 0.8 + 0.3) / 3)  # 5, 6 unseen: all


def test_strip_fill_takes_the_row_mean_across_both_halves_by_hand() -> None:
    n = 4
    atlas, seen = np.zeros((6 * n, 4 * n, 3)), np.zeros((6 * n, 4 * n), bool)
    # torso back (part 1, rows 0-3, cols 0-3) sees row 1 at two texels, torso front (part 2,
    # rows 4-7) sees row 1 at one texel: every unseen row-1 texel of both gets their mean
    atlas[1, 0], atlas[1, 2], atlas[5, 3] = 0.2, 0.4, 0.9
    seen[1, 0] = seen[1, 2] = seen[5, 3] = True
    atlas[12, 1], seen[12, 1] = 0.3, True  # part 4, a hand: whole, push-pull only
    filled = metrics.strip_fill(atlas, seen, n)
    push_pull = metrics.push_pull_fill(atlas, seen, n)
    np.testing.assert_allclose(filled[1, [1, 3], 0], 0.5)
    np.testing.assert_allclose(filled[5, 0:3, 0], 0.5)
    assert filled[1, 0, 0] == 0.2 and filled[5, 3, 0] == 0.9  # seen texels unchanged
    np.testing.assert_allclose(filled[[0, 2, 3, 4, 6, 7]], push_pull[[0, 2, 3, 4, 6, 7]])
    np.testing.assert_allclose(filled[8:24], push_pull[8:24])  # unsplit or unseen: push-pull


def test_observed_atlas_is_the_mean_over_views_that_see_each_texel() -> None:
    iuv = np.zeros((1, 2, 3), np.uint8)
    iuv[0, :, 0] = 1
    iuv[0, 1, 1] = 255  # pixel 0 at U = 0, pixel 1 at U = 1 of part 1
    view_a = np.array([[[10, 10, 10], [0, 0, 0]]], np.uint8)
    view_b = np.array([[[30, 30, 30], [50, 60, 70]]], np.uint8)
    only_first = iuv.copy()
    only_first[0, 1, 0] = 0  # view a sees pixel 0 only
    atlas, observed = metrics.observed_atlas([(view_a, only_first), (view_b, iuv)], N)
    assert observed.sum() == 2
    (r0, r1), (c0, c1) = np.nonzero(observed)
    first = (r0, c0) if c0 < c1 else (r1, c1)
    second = (r1, c1) if c0 < c1 else (r0, c0)
    assert atlas[first].tolist() == [20, 20, 20] and atlas[second].tolist() == [50, 60, 70]
    assert not atlas[~observed].any()
    with pytest.raises(ValueError, match=r"no \(image, iuv\) view"):
        metrics.observed_atlas([], N)


def test_span_fill_interpolates_across_the_shorter_agreeing_span_by_hand() -> None:
    import math

    import torch

    from dpt_core.texture_fill import SPAN_AGREEMENT, SPAN_POWER, span_fill

    # a tall hole (rows 0-4, columns 2-3) in a 5 × 6 image whose columns ramp 0, 1, 2, 3, 4, 5:
    # no known pixel in its columns, so the row interpolates, whatever the hole held
    rgb = torch.arange(6.0).expand(1, 1, 5, 6).clone()
    vis = torch.ones(1, 1, 5, 6)
    vis[..., 2:4] = 0
    rgb[..., 2:4] = -9.0
    torch.testing.assert_close(span_fill(rgb, vis), torch.arange(6.0).expand(1, 1, 5, 6))
    # a 1-pixel hole: row ends 1.0 / 1.05 (d = 0.05), column ends 3.0 / 3.0, both spans 2
    rgb = torch.zeros(1, 1, 7, 3)
    rgb[0, 0, :, 0], rgb[0, 0, :, 2] = 1.0, 1.05
    rgb[0, 0, 3, 1] = rgb[0, 0, 5, 1] = 3.0
    vis = torch.ones(1, 1, 7, 3)
    vis[0, 0, 4, 1] = 0
    w_row = 1 / (1 + math.exp((0.05 / SPAN_AGREEMENT) ** 2))  # same span: agreement decides
    expected = w_row * 1.025 + (1 - w_row) * 3.0
    assert float(span_fill(rgb, vis)[0, 0, 4, 1]) == pytest.approx(expected, rel=1e-5)
    # equal agreement (both ends equal), spans 2 (row) and 3 (column): span ** -SPAN_POWER
    rgb[0, 0, :, 2] = 1.0
    rgb[0, 0, 2, 1] = 3.0
    vis[0, 0, 3, 1] = 0
    w_row = 2.0**-SPAN_POWER / (2.0**-SPAN_POWER + 3.0**-SPAN_POWER)
    expected = w_row * 1.0 + (1 - w_row) * 3.0
    assert float(span_fill(rgb, vis)[0, 0, 4, 1]) == pytest.approx(expected, rel=1e-5)
    # vertical stripes, a wide hole: the row's ends differ, the column's agree -> the stripes
    # run on through it (push-pull would blur them to grey)
    stripes = (torch.arange(8) % 2).float().expand(1, 1, 6, 8).clone()
    vis = torch.ones(1, 1, 6, 8)
    vis[..., 2:4, 1:7] = 0
    torch.testing.assert_close(span_fill(stripes.masked_fill(vis == 0, 0.5), vis), stripes)
    # nothing known in a pixel's row or column: the image's known mean; known pixels unchanged
    rgb, vis = torch.full((1, 1, 3, 3), 7.0), torch.zeros(1, 1, 3, 3)
    rgb[0, 0, 0, 0], rgb[0, 0, 1, 1] = 1.0, 3.0
    vis[0, 0, 0, 0] = vis[0, 0, 1, 1] = 1
    out = span_fill(rgb, vis)
    assert out[0, 0, 2, 2] == 2.0  # row 2 and column 2 know nothing: mean of 1 and 3
    assert out[0, 0, 0, 0] == 1.0 and out[0, 0, 1, 1] == 3.0
    assert out[0, 0, 0, 2] == 1.0  # row 0 knows only its left end: that colour
