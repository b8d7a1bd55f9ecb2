"""Parametric surfaces of the studio human: the 24 DensePose parts plus hair and loose clothing.

Every surface is an elliptic sweep in its own *part frame*: a profile of control points
``(z, a, b, dy)`` along the part axis z (a = half-width along x, b = half-depth along y, dy = shift
of the section centre along y) swept over an azimuth range. A chart point (U, V) in [0, 1]² maps
to azimuth ``theta = theta0 + U * (theta1 - theta0)`` and to arc length fraction V along the
profile, giving ``(a sin theta, dy + b cos theta, z)``; theta = 0 faces +y. Charts are therefore
analytic and fill their whole atlas tile. Hair and clothes (``part == 0``) may start their V range
at an azimuth-dependent fraction (a hairline), see ``Surface.lower``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dpt_core.studio.skeleton import BONE_INDEX

# Rest rotation of a part frame inside its bone frame (columns = images of x_p, y_p, z_p).
FRAMES: dict[str, np.ndarray] = {
    "down": np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),  # limbs: axis down, y_p to the front
    "up": np.array([[-1.0, 0, 0], [0, 0, 1], [0, 1, 0]]),  # torso, head: axis up, y_p front
    "forward": np.eye(3),  # feet: axis to the front, y_p up
}


@dataclass(frozen=True)
class Surface:
    """One swept surface; ``part`` is its DensePose id (1..24) or 0 for hair and clothes."""

    name: str
    part: int
    bone: str
    frame: str
    profile: np.ndarray  # (K, 4) control points (z, a, b, dy), from V = 0 to V = 1
    theta: tuple[float, float]  # azimuth in degrees at U = 0 and U = 1
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)  # part-frame origin in the bone frame
    lower: tuple[float, float, float] | None = None  # V start: (front, side/back, sharpness)

    @property
    def bone_index(self) -> int:
        return BONE_INDEX[self.bone]


def _capsule(length: float, r0: float, r1: float, aspect: float = 1.0, bulge=()) -> np.ndarray:
    """Tapered capsule along +z from a pole at ``length + r1`` (V=0) to a pole at ``-r0`` (V=1)."""
    phi = np.linspace(0.0, np.pi / 2, 7)
    far = np.stack([length + r1 * np.cos(phi), r1 * np.sin(phi)], 1)
    mid = np.array(sorted(bulge, reverse=True)).reshape(-1, 2)
    near = np.stack([r0 * np.cos(phi + np.pi / 2), r0 * np.sin(phi + np.pi / 2)], 1)
    za = np.concatenate([far, mid, near])
    return np.stack([za[:, 0], za[:, 1], za[:, 1] * aspect, np.zeros(len(za))], 1)


def _ellipsoid(zc, c, a0, b0, phi0=-90.0, phi1=90.0, dy=0.0, k=13) -> np.ndarray:
    phi = np.deg2rad(np.linspace(phi0, phi1, k))
    cos = np.clip(np.cos(phi), 0.0, None)
    return np.stack([zc + c * np.sin(phi), a0 * cos, b0 * cos, np.full(k, dy)], 1)


def _rows(*rows) -> np.ndarray:
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


_TORSO = _rows(
    (-0.115, 0.0, 0.0, 0), (-0.10, 0.06, 0.05, 0), (-0.06, 0.13, 0.09, 0), (0.0, 0.155, 0.10, 0),
    (0.10, 0.15, 0.095, 0), (0.22, 0.135, 0.09, 0), (0.34, 0.155, 0.105, 0),
    (0.43, 0.175, 0.10, 0), (0.47, 0.18, 0.085, 0), (0.50, 0.13, 0.07, 0), (0.52, 0.06, 0.055, 0),
)  # fmt: skip
_HEAD = np.concatenate(
    [_rows((-0.05, 0.055, 0.055, 0), (0.08, 0.055, 0.058, 0.004)),
     _ellipsoid(0.19, 0.125, 0.078, 0.098, -40.0, 90.0, dy=0.012)]
)  # fmt: skip
_UPPER_ARM = _capsule(0.29, 0.05, 0.037, 1.05)
_LOWER_ARM = _capsule(0.26, 0.037, 0.027, 0.85, bulge=[(0.07, 0.04)])
_HAND = _ellipsoid(0.085, 0.095, 0.02, 0.045, 90.0, -90.0)
_UPPER_LEG = _capsule(0.44, 0.085, 0.055, 1.0)
_LOWER_LEG = _capsule(0.42, 0.055, 0.035, 1.05, bulge=[(0.12, 0.06)])
_FOOT = _ellipsoid(0.07, 0.135, 0.045, 0.035)

_HAIR_CAP = np.concatenate(
    [_rows((0.08, 0.088, 0.108, 0.012)), _ellipsoid(0.19, 0.137, 0.088, 0.108, 0.0, 90.0, 0.012)]
)
_HAIR_BACK = _rows(
    (-0.28, 0.11, 0.135, 0), (-0.10, 0.10, 0.13, 0), (0.05, 0.092, 0.118, 0.005),
    (0.19, 0.088, 0.112, 0.012), (0.25, 0.07, 0.09, 0.012),
)  # fmt: skip
_SKIRT_TOP = _rows((-0.05, 0.195, 0.135, 0), (0.05, 0.18, 0.125, 0), (0.21, 0.148, 0.10, 0))
_JACKET = _rows(
    (-0.16, 0.19, 0.14, 0), (0.0, 0.175, 0.125, 0), (0.22, 0.16, 0.115, 0), (0.34, 0.175, 0.125, 0),
    (0.43, 0.19, 0.12, 0), (0.47, 0.195, 0.105, 0), (0.50, 0.15, 0.09, 0), (0.535, 0.085, 0.075, 0),
)  # fmt: skip


def _limb(name: str, parts: tuple[int, int], bone: str, profile: np.ndarray) -> list[Surface]:
    """Back half (lower id) and front half (higher id); U runs from the medial side."""
    s = 1.0 if bone.startswith("l_") else -1.0
    back = Surface(f"{name}_back", parts[0], bone, "down", profile, (s * 90.0, s * 270.0))
    front = Surface(f"{name}_front", parts[1], bone, "down", profile, (-s * 90.0, s * 90.0))
    return [back, front]


def _build_surfaces() -> tuple[Surface, ...]:
    full = (-180.0, 180.0)
    body = [
        Surface("torso_back", 1, "torso", "up", _TORSO, (90.0, 270.0)),
        Surface("torso_front", 2, "torso", "up", _TORSO, (-90.0, 90.0)),
        Surface("right_hand", 3, "r_hand", "down", _HAND, full),
        Surface("left_hand", 4, "l_hand", "down", _HAND, full),
        Surface("left_foot", 5, "l_foot", "forward", _FOOT, full, (0.0, -0.045, 0.0)),
        Surface("right_foot", 6, "r_foot", "forward", _FOOT, full, (0.0, -0.045, 0.0)),
    ]
    body += _limb("right_upper_leg", (7, 9), "r_upper_leg", _UPPER_LEG)
    body += _limb("left_upper_leg", (8, 10), "l_upper_leg", _UPPER_LEG)
    body += _limb("right_lower_leg", (11, 13), "r_lower_leg", _LOWER_LEG)
    body += _limb("left_lower_leg", (12, 14), "l_lower_leg", _LOWER_LEG)
    body += _limb("left_upper_arm", (15, 17), "l_upper_arm", _UPPER_ARM)
    body += _limb("right_upper_arm", (16, 18), "r_upper_arm", _UPPER_ARM)
    body += _limb("left_lower_arm", (19, 21), "l_lower_arm", _LOWER_ARM)
    body += _limb("right_lower_arm", (20, 22), "r_lower_arm", _LOWER_ARM)
    body += [
        Surface("head_right", 23, "head", "up", _HEAD, (0.0, 180.0)),
        Surface("head_left", 24, "head", "up", _HEAD, (0.0, -180.0)),
    ]
    body.sort(key=lambda s: s.part)
    extras = [
        Surface("hair_short", 0, "head", "up", _HAIR_CAP, full, lower=(0.62, 0.3, 1.0)),
        Surface("hair_bob", 0, "head", "up", _HAIR_CAP, full, lower=(0.62, 0.0, 8.0)),
        Surface("hair_back", 0, "head", "up", _HAIR_BACK, (125.0, 235.0)),
        Surface("hair_bun", 0, "head", "up", _ellipsoid(0, 0.05, 0.05, 0.045), full,
                (0.0, 0.24, -0.1)),
        Surface("skirt_short", 0, "pelvis", "up",
                np.concatenate([_rows((-0.32, 0.235, 0.175, 0)), _SKIRT_TOP]), full),
        Surface("skirt_long", 0, "pelvis", "up",
                np.concatenate([_rows((-0.62, 0.26, 0.2, 0), (-0.32, 0.23, 0.17, 0)),
                                _SKIRT_TOP]), full),
        Surface("jacket", 0, "torso", "up", _JACKET, (40.0, 320.0)),
    ]  # fmt: skip
    return tuple(body + extras)


SURFACES: tuple[Surface, ...] = _build_surfaces()
N_SURFACES = len(SURFACES)
N_BODY_SURFACES = 24  # SURFACES[i] is DensePose part i + 1 for i < 24
SURFACE_INDEX: dict[str, int] = {s.name: i for i, s in enumerate(SURFACES)}
EXTRA_NAMES: tuple[str, ...] = tuple(s.name for s in SURFACES[N_BODY_SURFACES:])
SURFACE_PART = np.array([s.part for s in SURFACES], dtype=np.int64)


def arc_fractions(profile: np.ndarray) -> tuple[np.ndarray, float]:
    """Cumulative arc-length fraction of each control point (an upper bound over azimuths)."""
    step = np.diff(profile, axis=0)
    radial = np.maximum(np.abs(step[:, 1]), np.abs(step[:, 2])) + np.abs(step[:, 3])
    seg = np.hypot(step[:, 0], radial)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    return cum / cum[-1], float(cum[-1])


def evaluate(surface: Surface, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Part-frame points (..., 3) float64 of chart coordinates u, v in [0, 1] (same shapes)."""
    theta0, theta1 = np.deg2rad(surface.theta)
    theta = theta0 + np.asarray(u, dtype=np.float64) * (theta1 - theta0)
    v = np.asarray(v, dtype=np.float64)
    if surface.lower is not None:
        front, side, sharp = surface.lower
        start = side + (front - side) * ((1.0 + np.cos(theta)) / 2.0) ** sharp
        v = start + v * (1.0 - start)
    frac, _ = arc_fractions(surface.profile)
    z, a, b, dy = (np.interp(v, frac, surface.profile[:, k]) for k in range(4))
    return np.stack([a * np.sin(theta), dy + b * np.cos(theta), z], -1)


def _row_us(surface: Surface, rows: np.ndarray, spacing: float, dense: int = 257) -> list:
    """U samples of each row, evenly spaced by 3-D arc length, at most ``spacing`` apart."""
    u = np.linspace(0.0, 1.0, dense)
    pts = evaluate(surface, np.broadcast_to(u, (len(rows), dense)), rows[:, None] + 0 * u)
    step = np.linalg.norm(np.diff(pts, axis=1), axis=2)
    cum = np.concatenate([np.zeros((len(rows), 1)), np.cumsum(step, axis=1)], axis=1)
    out = []
    for c in cum:
        if c[-1] < 1e-9:  # a pole: one point
            out.append(np.array([0.5]))
            continue
        out.append(np.interp(np.linspace(0.0, c[-1], int(np.ceil(c[-1] / spacing)) + 1), c, u))
    return out


def _normals(surface: Surface, u: np.ndarray, v: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Outward unit normals by central differences in (U, V); poles fall back to radial."""
    eps = 1e-4
    du = evaluate(surface, np.minimum(u + eps, 1), v) - evaluate(surface, np.maximum(u - eps, 0), v)
    dv = evaluate(surface, u, np.minimum(v + eps, 1)) - evaluate(surface, u, np.maximum(v - eps, 0))
    normals = np.cross(dv, du)
    outward = pts - np.array([0.0, 0.0, pts[:, 2].mean()])
    if np.sum(normals * outward) < 0:
        normals = -normals
    norm = np.linalg.norm(normals, axis=-1, keepdims=True)
    radial = outward / np.maximum(np.linalg.norm(outward, axis=-1, keepdims=True), 1e-12)
    ok = norm > 1e-3 * np.linalg.norm(du, axis=-1, keepdims=True) * eps
    return np.where(ok & (norm > 1e-15), normals / np.maximum(norm, 1e-15), radial)


def surface_grid(surface: Surface, spacing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample a surface so no surface point is farther than ``spacing / sqrt(2)`` from a sample.

    Rows of constant V are at most ``spacing`` apart (by the profile's arc-length bound); along
    each row samples are evenly spaced by 3-D arc length, at most ``spacing`` apart. Returns
    (points (n, 3), outward normals (n, 3), uv (n, 2)), float32, in the part frame.
    """
    _, length = arc_fractions(surface.profile)
    rows = np.linspace(0.0, 1.0, max(2, int(np.ceil(length / spacing)) + 1))
    us = _row_us(surface, rows, spacing)
    u = np.concatenate(us)
    v = np.repeat(rows, [len(x) for x in us])
    pts = evaluate(surface, u, v)
    normals = _normals(surface, u, v, pts)
    return tuple(x.astype(np.float32) for x in (pts, normals, np.stack([u, v], -1)))
