"""Observed atlases: the appearance ground truth written from a studio folder's own samples."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dpt_core.evaluate import resample_atlas
from dpt_core.studio import generate_dataset
from dpt_core.studio.observed import write_observed_atlases

N = 16


def test_observed_atlas_matches_the_true_atlas_where_nothing_covers_the_body(tmp_path) -> None:
    studio = str(tmp_path / "studio")
    generate_dataset(studio, identities=2, poses=2, views=4, size=128, lit=False,
                     clothing="none")  # fmt: skip
    out = str(tmp_path / "observed")
    assert write_observed_atlases(studio, out, N) == ["id00000", "id00001"]
    for person in ("id00000", "id00001"):
        rgba = cv2.imread(f"{out}/{person}.png", cv2.IMREAD_UNCHANGED)
        assert rgba.shape == (6 * N, 4 * N, 4)
        observed = rgba[..., 3] == 255
        assert 0.3 < observed.mean() < 1.0  # 8 samples see much, never all, of the body
        assert set(np.unique(rgba[..., 3])) <= {0, 255}
        truth = cv2.imread(f"{studio}/atlases/{person}.png")
        truth = resample_atlas(np.ascontiguousarray(truth), N)  # BGR on both sides
        error = np.abs(rgba[..., :3].astype(float) - truth)[observed].mean() / 255
        assert error < 0.05, error  # unlit, unclothed: what the camera sees is the atlas


def test_observed_atlases_refuse_unknown_people(tmp_path) -> None:
    studio = str(tmp_path / "studio")
    generate_dataset(studio, identities=1, poses=1, views=1, size=64)
    with pytest.raises(ValueError, match="id00009"):
        write_observed_atlases(studio, str(tmp_path / "o"), N, persons=["id00009"])
