"""Where a posed body lands in the image: the camera aimed at it, and per surface the matrix
taking part-frame points to pixels, the shading vectors and the template spacing the image needs
(used by :mod:`dpt_core.studio.render`).
"""

from __future__ import annotations

import numpy as np

from dpt_core.studio.identity import Identity
from dpt_core.studio.parts import FRAMES, SURFACES, evaluate
from dpt_core.studio.scenes import Scene

_BONES = np.array([s.bone_index for s in SURFACES])
_FRAMES = np.stack([FRAMES[s.frame] for s in SURFACES])
_OFFSETS = np.array([s.offset for s in SURFACES])


def aim_camera(scene: Scene, rot: np.ndarray, joints: np.ndarray, hw: tuple[int, int]):
    """Aim the camera at the posed body: (K (3, 3), R world->camera (3, 3), camera centre (3,))."""
    ident, cam = scene.identity, scene.camera
    pts = np.concatenate([joints, joints + np.einsum("kij,kj->ki", rot, ident.tips)])
    yaw, pitch = np.deg2rad([cam.yaw_deg, cam.pitch_deg])
    forward = -np.array([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)])
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    r_c = np.stack([right, np.cross(forward, right), forward])  # x right, y down, z forward
    q = pts @ r_c.T
    pad = 0.06 * ident.height  # body radius beyond the joints and tips
    lo, hi = q.min(0) - pad, q.max(0) + pad
    centre = (lo + hi) / 2
    extent_y, extent_x = max(hi[1] - lo[1], 1.2 * ident.height), hi[0] - lo[0]
    f = cam.fill * cam.distance * min(hw[0] / extent_y, hw[1] / extent_x)
    k = np.array([[f, 0, hw[1] * (0.5 + cam.shift[0])], [0, f, hw[0] * (0.5 + cam.shift[1])],
                  [0, 0, 1.0]])  # fmt: skip
    return k, r_c, r_c.T @ centre - cam.distance * forward


def surface_transforms(ident: Identity, rot, joints, k, r_c, centre, light):
    """Per surface: image matrix A (S, 3, 3) and translation t (S, 3) taking part-frame points
    to homogeneous pixels, and shading vectors (S, 3, 3): rows diag(1/s)·R^T·light,
    diag(1/s)·R^T·e_z and 1/s, so a part-frame normal n0 shades without leaving its frame."""
    s = ident.surface_scale
    world_rot = rot[_BONES] @ _FRAMES
    offset = _OFFSETS * (np.abs(_FRAMES) @ s[..., None])[..., 0]
    origin = joints[_BONES] + np.einsum("sij,sj->si", rot[_BONES], offset)
    cam_rot = r_c @ world_rot
    a = (k @ cam_rot) * s[:, None, :]
    t = (origin - centre) @ r_c.T @ k.T
    to_part = cam_rot.transpose(0, 2, 1) / s[:, :, None]  # diag(1/s) R^T
    shading = np.stack([to_part @ np.asarray(light.direction), to_part[:, :, 2], 1.0 / s], 1)
    return a, t, shading


def template_spacing(a: np.ndarray, t: np.ndarray, ident: Identity, f: float, px: float) -> float:
    """Canonical template spacing (metres) that keeps every used surface's samples at most
    ``px`` pixels apart: surface k, scaled by s_k and no nearer than depth z_k (its bounding
    sphere), needs spacing <= px * z_k / (f * max(s_k))."""
    used = ident.surfaces
    scale = ident.surface_scale[used].max(1)
    centre_z = np.einsum("sj,sj->s", a[used, 2], _SPHERES[used, :3]) + t[used, 2]
    z_near = centre_z - _SPHERES[used, 3] * scale
    if not z_near.min() > 0.1:
        raise ValueError(f"the body reaches the camera (depth {z_near.min():.2f} m)")
    return float(px / f * np.min(z_near / scale))


def _bounding_spheres() -> np.ndarray:
    """(S, 4): centre (part frame) and radius of every surface."""
    grid = np.linspace(0.0, 1.0, 33)
    u, v = np.meshgrid(grid, grid)
    out = []
    for surface in SURFACES:
        pts = evaluate(surface, u, v).reshape(-1, 3)
        centre = (pts.min(0) + pts.max(0)) / 2
        out.append([*centre, np.linalg.norm(pts - centre, axis=1).max() * 1.01])
    return np.array(out)


_SPHERES = _bounding_spheres()
