"""Identities and their atlases, poses, backgrounds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from dpt_core.atlas import tile_origin
from dpt_core.studio.background import background_rgb
from dpt_core.studio.identity import HAIR_STYLES, make_identity
from dpt_core.studio.poses import (
    JOINT_LIMITS,
    POSE_LIBRARY,
    clip_to_limits,
    mirror,
    pose_angles,
    sample_pose,
)
from dpt_core.studio.skeleton import BONE_INDEX
from dpt_core.studio.textures import identity_atlas

N = 40  # small atlases keep these tests fast


def _tile(atlas: np.ndarray, part: int, n: int = N) -> np.ndarray:
    r0, c0 = tile_origin(part, n)
    return atlas[r0 : r0 + n, c0 : c0 + n]


def test_identity_is_a_function_of_seed_and_index():
    a, b = make_identity(3, seed=1), make_identity(3, seed=1)
    assert np.array_equal(identity_atlas(a, N), identity_atlas(b, N))
    assert np.array_equal(a.offsets, b.offsets) and a.extras == b.extras
    assert a.person_id == "id00003"
    others = [make_identity(3, seed=2), make_identity(4, seed=1)]
    for other in others:
        assert not np.array_equal(identity_atlas(other, N), identity_atlas(a, N))
        assert not np.allclose(other.offsets, a.offsets)
    with pytest.raises(ValueError, match="index"):
        make_identity(-1)


def test_population_varies_in_shape_skin_hair_and_clothes():
    people = [make_identity(i, 0) for i in range(40)]
    heights = [p.height for p in people]
    assert max(heights) - min(heights) > 0.1
    assert len({p.hair_style for p in people}) == len(HAIR_STYLES)
    assert len({p.bottom_kind for p in people}) == 4
    assert len({p.top.pattern for p in people}) >= 5
    assert len({tuple(np.rint(p.skin)) for p in people}) > 10


def test_atlas_layout_and_garment_regions():
    ident = dataclasses.replace(
        make_identity(0, 0), sleeve=0.0, bottom_kind="trousers", trouser=0.9, chest_print=False
    )
    atlas = identity_atlas(ident, N)
    assert atlas.shape == (6 * N, 4 * N, 3) and atlas.dtype == np.uint8
    skin = np.rint(ident.skin).astype(np.uint8)
    for part in (15, 16, 17, 18, 19, 20, 21, 22, 3, 4):  # bare arms and hands
        assert (_tile(atlas, part) == skin).all(), part
    for part in range(7, 15):  # trousers down to the ankle
        assert (_tile(atlas, part) != skin).any(-1).mean() > 0.9, part
    assert (_tile(atlas, 2) != skin).any(-1).mean() > 0.7  # the top covers the torso
    long_sleeves = identity_atlas(dataclasses.replace(ident, sleeve=0.56), N)
    for part in range(15, 23):
        assert (_tile(long_sleeves, part) != skin).any(-1).mean() > 0.85, part  # bare wrist


def test_atlas_has_fine_detail_on_clothes():
    """Neighbouring texels of the torso tiles differ strongly in many places, for every fabric."""
    for index in range(8):
        atlas = identity_atlas(make_identity(index, 0)).astype(np.int32)
        torso = _tile(atlas, 2, 200)
        jumps = np.abs(np.diff(torso, axis=1)).max(-1) > 20
        assert jumps.mean() > 0.01, make_identity(index, 0).top.pattern


def test_pose_library_is_within_human_limits():
    for name in POSE_LIBRARY:
        angles = pose_angles(name)
        assert np.array_equal(clip_to_limits(angles), angles), name
    arms_up = pose_angles("arms_raised")
    assert arms_up[BONE_INDEX["r_upper_arm"], 1] == arms_up[BONE_INDEX["l_upper_arm"], 1] == 165
    walking = pose_angles("walking")
    assert (
        walking[BONE_INDEX["r_upper_leg"], 0] == 25 and walking[BONE_INDEX["l_upper_leg"], 0] == -15
    )
    with pytest.raises(ValueError, match="unknown pose"):
        pose_angles("moonwalk")


def test_sampled_poses_are_seeded_and_within_limits():
    names = set()
    for i in range(60):
        name, angles = sample_pose(np.random.default_rng([7, i]))
        again = sample_pose(np.random.default_rng([7, i]))
        assert again[0] == name and np.array_equal(again[1], angles)
        lo, hi = JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1]
        assert (angles >= lo).all() and (angles <= hi).all()
        names.add(name)
    assert len(names) >= 8 and "random" in names


def test_mirror_swaps_sides():
    angles = pose_angles("waving")
    flipped = mirror(angles)
    assert np.array_equal(flipped[BONE_INDEX["l_upper_arm"]], angles[BONE_INDEX["r_upper_arm"]])
    assert flipped[BONE_INDEX["head"], 2] == -angles[BONE_INDEX["head"], 2]
    assert np.array_equal(mirror(flipped), angles)


def test_backgrounds_are_seeded_textures():
    a, b = background_rgb(5, 40, 60), background_rgb(5, 40, 60)
    assert a.shape == (3, 40, 60) and a.dtype == torch.uint8
    assert torch.equal(a, b)
    assert not torch.equal(a, background_rgb(6, 40, 60))
    rows_differ = [(background_rgb(s, 64, 64)[:, 1:] != background_rgb(s, 64, 64)[:, :-1]).any()
                   for s in range(8)]  # fmt: skip
    assert all(rows_differ)  # at least a wall/floor boundary or shading in every one
