"""Scenes: one identity in one pose seen from one camera, drawn deterministically from a seed.

Every random draw is keyed by (seed, identity, pose_index, view), never by batch position, so a
sample renders the same whether it is made alone or inside any batch. All views of one
(identity, pose_index) share the pose; the camera circles the person over 360° of yaw.

Scene modes: ``"shoot"`` (default) gives every sample of an identity one background and one
light, like the photo shoots of DeepFashion In-shop, so a source and its target share the scene
and whole-image metrics score the person, not a guess of an unseen background; ``"random"``
draws both per sample (robustness tests, re-id style crowds).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from dpt_core.studio.identity import Identity, make_identity
from dpt_core.studio.poses import sample_pose


@dataclass(frozen=True)
class Camera:
    """Pinhole camera aimed at the person; yaw 0 looks at their front, pitch > 0 from above."""

    yaw_deg: float
    pitch_deg: float
    distance: float  # metres from the centre of the person's bounding box
    fill: float  # fraction of the image the person's extent fills
    shift: tuple[float, float]  # principal-point offset as a fraction of (width, height)


@dataclass(frozen=True)
class Light:
    """Directional light in camera coordinates (x right, y down, z forward), toward the light."""

    direction: tuple[float, float, float]
    ambient: float


@dataclass(frozen=True, eq=False)
class Scene:
    """Everything a sample depends on; ``key`` names it in data sets (no dots)."""

    identity: Identity
    pose_index: int
    pose_name: str
    angles: np.ndarray  # (N_BONES, 3) degrees
    view: int
    camera: Camera
    light: Light
    background_seed: int

    @property
    def key(self) -> str:
        return sample_key(self.identity.index, self.pose_index, self.view)


def sample_key(identity: int, pose_index: int, view: int) -> str:
    """``id{identity:05d}_p{pose_index:03d}_v{view:02d}``."""
    return f"id{identity:05d}_p{pose_index:03d}_v{view:02d}"


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


SCENE_MODES = ("shoot", "random")


def make_scene(
    identity: Identity, pose_index: int, view: int, views: int, mode: str = "shoot"
) -> Scene:
    """View ``view`` of ``views`` of pose ``pose_index`` of ``identity`` (seeded by its seed).

    ``mode``: ``"shoot"`` (one background and light per identity) or ``"random"`` (per sample).
    """
    _check_counts(views=views)
    if mode not in SCENE_MODES:
        raise ValueError(f"mode must be one of {SCENE_MODES}, got {mode!r}")
    if not 0 <= view < views or pose_index < 0:
        raise ValueError(f"need 0 <= view < views and pose_index >= 0, got {view}, {pose_index}")
    seed, index = identity.seed, identity.index
    pose_rng = np.random.default_rng([seed, 2, index, pose_index])
    pose_name, angles = sample_pose(pose_rng)
    yaw0 = pose_rng.uniform(0.0, 360.0)
    rng = np.random.default_rng([seed, 3, index, pose_index, view])
    step = 360.0 / views
    yaw = (yaw0 + view * step + rng.uniform(-0.2, 0.2) * min(step, 40.0)) % 360.0
    camera = Camera(
        yaw_deg=float(yaw),
        pitch_deg=float(rng.uniform(-8.0, 20.0)),
        distance=float(rng.uniform(3.2, 6.0)),
        fill=float(rng.uniform(0.8, 0.95)),
        shift=(float(rng.uniform(-0.04, 0.04)), float(rng.uniform(-0.03, 0.03))),
    )
    scene_rng = np.random.default_rng([seed, 4, index]) if mode == "shoot" else rng
    direction = np.array([scene_rng.uniform(-0.7, 0.7), scene_rng.uniform(-0.9, -0.2), -1.0])
    light = Light(tuple(float(x) for x in direction / np.linalg.norm(direction)),
                  float(scene_rng.uniform(0.35, 0.55)))  # fmt: skip
    return Scene(identity, pose_index, pose_name, angles, view, camera, light,
                 int(scene_rng.integers(1 << 31)))  # fmt: skip


def iter_scenes(
    identities: int, poses: int, views: int, seed: int = 0, mode: str = "shoot"
) -> Iterator[Scene]:
    """All identities × poses × views scenes, lazily, in key order (identity, pose, view)."""
    _check_counts(identities=identities, poses=poses, views=views)
    for i in range(identities):
        ident = make_identity(i, seed)
        for p in range(poses):
            for v in range(views):
                yield make_scene(ident, p, v, views, mode)


def scene_grid(
    identities: int, poses: int, views: int, seed: int = 0, mode: str = "shoot"
) -> list[Scene]:
    """``list(iter_scenes(...))``."""
    return list(iter_scenes(identities, poses, views, seed, mode))
