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
