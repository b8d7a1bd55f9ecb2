"""Poses: joint limits, a named pose library, and seeded sampling within human limits.

A pose is an (N_BONES, 3) float64 array of anatomical angles in degrees: (flex, abduction, twist)
per bone, in the conventions of ``skeleton.joint_rotations``. Library entries name a bone kind
("upper_arm") for both sides or a sided bone ("r_upper_arm") for one side.
"""

from __future__ import annotations

import numpy as np

from dpt_core.studio.skeleton import BONE_INDEX, BONE_NAMES, N_BONES

# (flex, abduction, twist) ranges in degrees, by bone kind.
_LIMITS_BY_KIND: dict[str, tuple[tuple[float, float], ...]] = {
    "pelvis": ((-10, 40), (-10, 10), (-15, 15)),
    "torso": ((-20, 60), (-30, 30), (-35, 35)),
    "head": ((-40, 55), (-35, 35), (-70, 70)),
    "upper_arm": ((-50, 175), (-15, 175), (-70, 70)),
    "lower_arm": ((0, 150), (0, 0), (-80, 80)),
    "hand": ((-60, 60), (-20, 30), (0, 0)),
    "upper_leg": ((-25, 125), (-20, 50), (-40, 40)),
    "lower_leg": ((0, 150), (0, 0), (-10, 10)),
    "foot": ((-25, 45), (-15, 15), (-20, 20)),
}
JOINT_LIMITS = np.array(
    [_LIMITS_BY_KIND[name.split("_", 1)[-1] if "_" in name else name] for name in BONE_NAMES],
    dtype=np.float64,
)  # (N_BONES, 3, 2)

POSE_LIBRARY: dict[str, dict[str, tuple[float, float, float]]] = {
    "standing": {"upper_arm": (0, 10, 0), "lower_arm": (10, 0, 0)},
    "a_pose": {"upper_arm": (0, 40, 0), "lower_arm": (5, 0, 0)},
    "t_pose": {"upper_arm": (0, 90, 0)},
    "walking": {"r_upper_leg": (25, 0, 0), "l_upper_leg": (-15, 0, 0), "r_lower_leg": (10, 0, 0),
                "l_lower_leg": (35, 0, 0), "l_foot": (15, 0, 0), "r_upper_arm": (-20, 8, 0),
                "l_upper_arm": (25, 8, 0), "lower_arm": (20, 0, 0)},
    "running": {"r_upper_leg": (60, 0, 0), "l_upper_leg": (-25, 0, 0), "r_lower_leg": (70, 0, 0),
                "l_lower_leg": (90, 0, 0), "r_upper_arm": (-40, 10, 0), "l_upper_arm": (50, 10, 0),
                "lower_arm": (90, 0, 0), "torso": (12, 0, 0), "l_foot": (30, 0, 0)},
    "arms_raised": {"upper_arm": (0, 165, 0), "lower_arm": (10, 0, 0)},
    "reaching": {"upper_arm": (90, 10, 0), "lower_arm": (5, 0, 0), "torso": (10, 0, 0)},
    "sitting": {"upper_leg": (90, 8, 0), "lower_leg": (90, 0, 0), "upper_arm": (20, 8, 0),
                "lower_arm": (60, 0, 0)},
    "kneeling": {"upper_leg": (-5, 5, 0), "lower_leg": (100, 0, 0), "foot": (40, 0, 0),
                 "upper_arm": (10, 10, 0), "lower_arm": (30, 0, 0)},
    "crouching": {"upper_leg": (110, 15, 0), "lower_leg": (125, 0, 0), "foot": (-20, 0, 0),
                  "torso": (35, 0, 0), "upper_arm": (40, 15, 0), "lower_arm": (60, 0, 0)},
    "waving": {"r_upper_arm": (0, 130, 0), "r_lower_arm": (80, 0, 60), "l_upper_arm": (0, 10, 0),
               "head": (0, 10, 15)},
    "hands_on_hips": {"upper_arm": (-15, 45, 0), "lower_arm": (110, 0, 0), "hand": (0, 20, 0)},
    "lunge": {"r_upper_leg": (80, 5, 0), "r_lower_leg": (85, 0, 0), "l_upper_leg": (-25, 5, 0),
              "l_lower_leg": (20, 0, 0), "l_foot": (30, 0, 0), "upper_arm": (0, 30, 0)},
    "bending": {"pelvis": (30, 0, 0), "torso": (40, 0, 0), "upper_arm": (40, 5, 0),
                "upper_leg": (-20, 0, 0), "head": (-20, 0, 0)},
    "looking_back": {"torso": (0, 0, 30), "head": (0, 0, 60), "upper_arm": (10, 12, 0),
                     "lower_arm": (30, 0, 0)},
}  # fmt: skip
POSE_NAMES: tuple[str, ...] = (*POSE_LIBRARY, "random")


def _bones(key: str) -> list[int]:
    if key in BONE_INDEX:
        return [BONE_INDEX[key]]
    return [BONE_INDEX[f"{side}_{key}"] for side in ("r", "l")]


def pose_angles(name: str) -> np.ndarray:
    """The library pose ``name`` as (N_BONES, 3) degrees; ValueError naming unknown poses."""
    if name not in POSE_LIBRARY:
        raise ValueError(f"name: unknown pose {name!r}; known: {', '.join(POSE_LIBRARY)}")
    angles = np.zeros((N_BONES, 3))
    for key, value in sorted(POSE_LIBRARY[name].items(), key=lambda kv: "_" in kv[0][:2]):
        angles[_bones(key)] = value  # kinds first, then sided overrides
    return angles


def clip_to_limits(angles: np.ndarray) -> np.ndarray:
    """Clip (..., N_BONES, 3) angles into JOINT_LIMITS."""
    return np.clip(angles, JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1])


def mirror(angles: np.ndarray) -> np.ndarray:
    """Swap left and right (the conventions are already mirrored, so rows just swap)."""
    swap = {"r_": "l_", "l_": "r_"}
    order = [BONE_INDEX[swap.get(n[:2], n[:2]) + n[2:]] for n in BONE_NAMES]
    out = angles[..., order, :].copy()
    out[..., [BONE_INDEX["pelvis"], BONE_INDEX["torso"], BONE_INDEX["head"]], 1:] *= -1
    return out


def sample_pose(rng: np.random.Generator, jitter_deg: float = 6.0) -> tuple[str, np.ndarray]:
    """A named pose with jitter (85 %) or uniformly random joint angles (15 %), within limits."""
    if rng.uniform() < 0.15:
        lo, hi = JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1]
        centre = clip_to_limits(pose_angles("standing"))
        angles = centre + rng.uniform(0.0, 0.7, size=lo.shape) * (rng.uniform(lo, hi) - centre)
        return "random", clip_to_limits(angles)
    name = POSE_NAMES[rng.integers(len(POSE_LIBRARY))]
    angles = pose_angles(name) + rng.normal(0.0, jitter_deg, size=(N_BONES, 3))
    if rng.uniform() < 0.5:
        angles = mirror(angles)
    return name, clip_to_limits(angles)
