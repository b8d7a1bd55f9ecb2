"""Articulated skeleton of the studio human: bones, joint-angle conventions, forward kinematics.

Person frame (metres): +x = the person's left, +y = up, +z = the person's front; the root (pelvis
centre, at hip height) is the origin. Every bone frame equals the person frame in the rest pose
(standing straight, arms hanging, all angles zero). A joint rotation is given as anatomical angles
(flex, abduction, twist) in degrees and becomes ``Rz(rz) @ Rx(rx) @ Ry(ry)`` in the parent frame.
"""

from __future__ import annotations

import numpy as np

BONE_NAMES: tuple[str, ...] = (
    "pelvis",
    "torso",
    "head",
    "r_upper_arm",
    "r_lower_arm",
    "r_hand",
    "l_upper_arm",
    "l_lower_arm",
    "l_hand",
    "r_upper_leg",
    "r_lower_leg",
    "r_foot",
    "l_upper_leg",
    "l_lower_leg",
    "l_foot",
)
N_BONES = len(BONE_NAMES)
BONE_INDEX: dict[str, int] = {name: i for i, name in enumerate(BONE_NAMES)}
BONE_PARENTS: tuple[int, ...] = (-1, 0, 1, 1, 3, 4, 1, 6, 7, 0, 9, 10, 0, 12, 13)

# Joint position of each bone in its parent's frame, canonical body (1.76 m tall).
REST_OFFSETS = np.array(
    [
        [0.0, 0.0, 0.0],  # pelvis (root, at the hip centre)
        [0.0, 0.0, 0.0],  # torso pivots at the pelvis centre
        [0.0, 0.51, 0.0],  # head: neck base
        [-0.18, 0.47, 0.0],  # right shoulder
        [0.0, -0.29, 0.0],  # right elbow
        [0.0, -0.26, 0.0],  # right wrist
        [0.18, 0.47, 0.0],
        [0.0, -0.29, 0.0],
        [0.0, -0.26, 0.0],
        [-0.09, -0.03, 0.0],  # right hip
        [0.0, -0.44, 0.0],  # right knee
        [0.0, -0.42, 0.0],  # right ankle
        [0.09, -0.03, 0.0],
        [0.0, -0.44, 0.0],
        [0.0, -0.42, 0.0],
    ]
)
# Far end of each bone in its own frame (head top, finger tips, toes); used to frame the camera.
REST_TIPS = np.array(
    [
        [0.0, -0.12, 0.0],
        [0.0, 0.51, 0.0],
        [0.0, 0.31, 0.02],
        [0.0, -0.29, 0.0],
        [0.0, -0.26, 0.0],
        [0.0, -0.19, 0.0],
        [0.0, -0.29, 0.0],
        [0.0, -0.26, 0.0],
        [0.0, -0.19, 0.0],
        [0.0, -0.44, 0.0],
        [0.0, -0.42, 0.0],
        [0.0, -0.08, 0.2],
        [0.0, -0.44, 0.0],
        [0.0, -0.42, 0.0],
        [0.0, -0.08, 0.2],
    ]
)
# +1 left, -1 right, 0 midline: mirrors abduction and twist so both sides share one angle table.
BONE_SIDE = np.array([0, 0, 0, -1, -1, -1, 1, 1, 1, -1, -1, -1, 1, 1, 1], dtype=np.float64)
# Sign of the x rotation for a positive flex: hips, shoulders and elbows swing the limb forward,
# knees bend it backward, spine and neck lean forward, a foot points its toes down.
FLEX_SIGN = np.array([1, 1, 1, -1, -1, -1, -1, -1, -1, -1, 1, 1, -1, 1, 1], dtype=np.float64)


def euler_matrices(rx: np.ndarray, ry: np.ndarray, rz: np.ndarray) -> np.ndarray:
    """``Rz @ Rx @ Ry`` for angle arrays in radians of any shape S; returns (*S, 3, 3) float64."""
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    zero, one = np.zeros_like(rx), np.ones_like(rx)
    mx = np.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1).reshape(*rx.shape, 3, 3)
    my = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(*rx.shape, 3, 3)
    mz = np.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1).reshape(*rx.shape, 3, 3)
    return mz @ mx @ my


def joint_rotations(angles_deg: np.ndarray) -> np.ndarray:
    """(flex, abduction, twist) degrees (..., N_BONES, 3) -> rotations (..., N_BONES, 3, 3)."""
    angles_deg = np.asarray(angles_deg, dtype=np.float64)
    if angles_deg.shape[-2:] != (N_BONES, 3):
        raise ValueError(f"angles_deg must have shape (..., {N_BONES}, 3), got {angles_deg.shape}")
    rad = np.deg2rad(angles_deg)
    side = np.where(BONE_SIDE == 0, 1.0, BONE_SIDE)
    return euler_matrices(FLEX_SIGN * rad[..., 0], side * rad[..., 2], side * rad[..., 1])


def forward_kinematics(
    angles_deg: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pose a batch of skeletons.

    angles_deg: (B, N_BONES, 3) anatomical angles; offsets: (B, N_BONES, 3) joint offsets in the
    parent frame (metres). Returns (rotations (B, N_BONES, 3, 3), joints (B, N_BONES, 3)) in the
    person frame, float64; the pelvis joint is at the origin.
    """
    offsets = np.asarray(offsets, dtype=np.float64)
    local = joint_rotations(angles_deg)
    if offsets.shape != local.shape[:-1]:
        raise ValueError(f"offsets must have shape {local.shape[:-1]}, got {offsets.shape}")
    rot = np.empty_like(local)
    pos = np.empty_like(offsets)
    for bone, parent in enumerate(BONE_PARENTS):
        if parent < 0:
            rot[:, bone] = local[:, bone]
            pos[:, bone] = offsets[:, bone]
            continue
        rot[:, bone] = rot[:, parent] @ local[:, bone]
        pos[:, bone] = pos[:, parent] + np.einsum("bij,bj->bi", rot[:, parent], offsets[:, bone])
    return rot, pos
