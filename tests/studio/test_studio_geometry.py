"""Skeleton conventions, part surfaces and charts, template banks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dpt_core.studio.parts import SURFACE_INDEX, SURFACES, evaluate, surface_grid
from dpt_core.studio.skeleton import (
    BONE_INDEX,
    N_BONES,
    REST_OFFSETS,
    forward_kinematics,
    joint_rotations,
)
from dpt_core.studio.templates import (
    LEVEL0_SPACING,
    LEVEL_RATIO,
    level_for_spacing,
    template_bank,
)
from dpt_core.studio.textures import atlas_geometry


def _pose(**bones: tuple[float, float, float]) -> np.ndarray:
    angles = np.zeros((1, N_BONES, 3))
    for name, value in bones.items():
        angles[0, BONE_INDEX[name]] = value
    return angles


def _joints(angles: np.ndarray) -> np.ndarray:
    return forward_kinematics(angles, REST_OFFSETS[None])[1][0]


def test_rest_pose_joints_are_the_canonical_skeleton():
    rot, _ = forward_kinematics(_pose(), REST_OFFSETS[None])
    joints = _joints(_pose())
    assert np.allclose(rot, np.eye(3))
    # right wrist: shoulder (-0.18, 0.47) lowered by the upper (0.29) and lower (0.26) arm
    assert np.allclose(joints[BONE_INDEX["r_hand"]], [-0.18, -0.08, 0.0])
    # left ankle: hip (0.09, -0.03) lowered by thigh (0.44) and shin (0.42)
    assert np.allclose(joints[BONE_INDEX["l_foot"]], [0.09, -0.89, 0.0])
    assert np.allclose(joints[BONE_INDEX["head"]], [0.0, 0.51, 0.0])


def test_joint_angles_move_limbs_anatomically():
    # left shoulder abducted 90°: the left arm points to the person's left (+x)
    assert np.allclose(_joints(_pose(l_upper_arm=(0, 90, 0)))[BONE_INDEX["l_hand"]],
                       [0.18 + 0.55, 0.47, 0.0])  # fmt: skip
    # right shoulder flexed 90°: the right arm points forward (+z)
    assert np.allclose(_joints(_pose(r_upper_arm=(90, 0, 0)))[BONE_INDEX["r_hand"]],
                       [-0.18, 0.47, 0.55])  # fmt: skip
    # elbow flexed 90°: the forearm points forward
    assert np.allclose(_joints(_pose(r_lower_arm=(90, 0, 0)))[BONE_INDEX["r_hand"]],
                       [-0.18, 0.18, 0.26])  # fmt: skip
    # sitting: thigh forward, knee bent back down: shin vertical again
    sit = _joints(_pose(l_upper_leg=(90, 0, 0), l_lower_leg=(90, 0, 0)))
    assert np.allclose(sit[BONE_INDEX["l_lower_leg"]], [0.09, -0.03, 0.44])
    assert np.allclose(sit[BONE_INDEX["l_foot"]], [0.09, -0.45, 0.44])
    # spine flexed 90°: the torso leans forward
    assert np.allclose(_joints(_pose(torso=(90, 0, 0)))[BONE_INDEX["head"]], [0.0, 0.0, 0.51])


def test_joint_rotations_are_proper_rotations():
    angles = np.random.default_rng(0).uniform(-180, 180, size=(5, N_BONES, 3))
    rot = joint_rotations(angles)
    assert np.allclose(rot @ rot.swapaxes(-1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(rot), 1.0)
    with pytest.raises(ValueError, match="angles_deg"):
        joint_rotations(np.zeros((N_BONES, 2)))


EXPECTED_BONES = {
    1: "torso", 2: "torso", 3: "r_hand", 4: "l_hand", 5: "l_foot", 6: "r_foot",
    7: "r_upper_leg", 9: "r_upper_leg", 8: "l_upper_leg", 10: "l_upper_leg",
    11: "r_lower_leg", 13: "r_lower_leg", 12: "l_lower_leg", 14: "l_lower_leg",
    15: "l_upper_arm", 17: "l_upper_arm", 16: "r_upper_arm", 18: "r_upper_arm",
    19: "l_lower_arm", 21: "l_lower_arm", 20: "r_lower_arm", 22: "r_lower_arm",
    23: "head", 24: "head",
}  # fmt: skip


def test_part_ids_follow_densepose():
    body = SURFACES[:24]
    assert [s.part for s in body] == list(range(1, 25))
    assert {s.part: s.bone for s in body} == EXPECTED_BONES
    assert all(s.part == 0 for s in SURFACES[24:])


def test_halves_face_the_right_way_in_the_rest_pose():
    """Back halves (odd ids of torso/limb pairs) lie behind, fronts in front; sides are right."""
    xyz, part = atlas_geometry(24)
    mean = {p: xyz[part == p].mean(0) for p in range(1, 25)}
    pairs = [(1, 2), (7, 9), (8, 10), (11, 13), (12, 14), (15, 17), (16, 18), (19, 21), (20, 22)]
    for back, front in pairs:
        assert mean[back][2] < mean[front][2], (back, front)
    assert mean[23][0] < 0 < mean[24][0]  # head right is on the person's right (-x)
    for p in range(3, 23):
        side = EXPECTED_BONES[p][0]
        assert (mean[p][0] > 0) == (side == "l"), p


@pytest.mark.parametrize("name", ["torso_front", "right_hand", "left_upper_leg_back", "hair_bob"])
def test_surface_grid_leaves_no_gap(name):
    """Every chart point is within spacing/sqrt(2) of a sample, and the chart fills [0, 1]²."""
    surface, spacing = SURFACES[SURFACE_INDEX[name]], 0.012
    pts, normals, uv = surface_grid(surface, spacing)
    rng = np.random.default_rng(1)
    probe = evaluate(surface, rng.uniform(size=3000), rng.uniform(size=3000))
    nearest = torch.cdist(torch.from_numpy(probe).float(), torch.from_numpy(pts)).amin(1)
    assert nearest.max().item() <= spacing / math.sqrt(2) * 1.02
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    cells = set(map(tuple, np.minimum((uv * 8).astype(int), 7)))
    assert len(cells) == 64


def test_normals_point_outward_on_the_torso():
    pts, normals, _ = surface_grid(SURFACES[SURFACE_INDEX["torso_front"]], 0.01)
    radial = pts * np.array([1.0, 1.0, 0.0])
    assert np.mean(np.sum(normals * radial, axis=1) > 0) > 0.97


def test_template_bank_blocks_hold_every_surface_point():
    bank = template_bank(4)
    start = 0
    for index, surface in enumerate(SURFACES):
        pts, _, uv = surface_grid(surface, bank.spacing)
        blocks = bank.blocks_for([index])
        ids = bank.ids[blocks].long().reshape(-1)
        slots = bank.points[blocks].permute(0, 2, 1).reshape(-1, 3)
        assert ids.min().item() == start and ids.max().item() == start + len(pts) - 1
        assert torch.equal(slots, torch.from_numpy(pts)[ids - start])
        assert torch.equal(bank.uv[start : start + len(pts)], torch.from_numpy(uv))
        assert (bank.surface[ids] == index).all()
        start += len(pts)


def test_level_for_spacing_picks_the_coarsest_fine_enough_level():
    for wanted in (0.05, 0.01, 0.0037, 0.001):
        level = level_for_spacing(wanted)
        assert LEVEL0_SPACING * LEVEL_RATIO**level <= wanted * (1 + 1e-9)
        assert level == 0 or LEVEL0_SPACING * LEVEL_RATIO ** (level - 1) > wanted
    with pytest.raises(ValueError, match="spacing"):
        level_for_spacing(0.0)
