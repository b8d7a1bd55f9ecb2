"""Fabric patterns and each identity's ground-truth texture atlas (DensePose 24-tile layout).

Patterns are *solid* textures: functions of a texel's rest-pose position on the canonical body
(person frame, metres), so stripes and checks run on across the front/back seams of a part and
from the torso onto the sleeves. Periods of 1.5–5 cm give 2–6 pixel detail at 256×256, so any
blur a model introduces is measurable.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from dpt_core.atlas import DEFAULT_N, atlas_shape, tile_origin
from dpt_core.studio.identity import Garment, Identity
from dpt_core.studio.parts import FRAMES, N_BODY_SURFACES, SURFACES, evaluate
from dpt_core.studio.skeleton import N_BONES, REST_OFFSETS, forward_kinematics

EXTRA_TEXTURE_SIZE = 128
SHOULDER_Y, HIP_Y, NECK_Y = 0.47, -0.03, 0.51  # canonical rest heights (person frame)


def _hash01(i: np.ndarray, j: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random numbers in [0, 1) for integer cell coordinates."""
    h = (i.astype(np.int64) * 73856093) ^ (j.astype(np.int64) * 19349663) ^ np.int64(salt)
    h = (h ^ (h >> 13)) * 1274126177 & 0xFFFFFFFF
    return ((h ^ (h >> 16)) & 0xFFFFFF).astype(np.float32) / np.float32(1 << 24)


def _text(s: np.ndarray, t: np.ndarray, cell: float, salt: int) -> np.ndarray:
    """Boolean ink of lines of 3×5-dot glyphs, gaps between words and between lines."""
    gx, gy = np.floor(s / (cell * 0.8)), np.floor(t / cell)
    dx, dy = np.floor((s / (cell * 0.8) - gx) * 4), np.floor((t / cell - gy) * 7)
    inside = (dx < 3) & (dy >= 1) & (dy < 6) & (np.mod(gy, 3) != 2)
    word = _hash01(np.floor(gx / 5), gy, salt + 1) < 0.85
    bit = _hash01(gx * 16 + dx, gy * 8 + dy, salt) < 0.55
    return inside & word & bit & (np.mod(gx, 5) != 4)


def pattern_rgb(g: Garment, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Colour (..., 3) float32 of fabric ``g`` at 2-D fabric coordinates p, q (metres)."""
    a = np.deg2rad(g.angle)
    s = (p * np.cos(a) + q * np.sin(a)) / g.period
    t = (q * np.cos(a) - p * np.sin(a)) / g.period
    base, ink, accent = (c.astype(np.float32) for c in g.colors)
    if g.pattern == "stripes":
        f = t - np.floor(t)
        idx = np.where(f < 0.45, 1, np.where((f > 0.6) & (f < 0.7), 2, 0))
    elif g.pattern == "checks":
        fs, ft = s - np.floor(s), t - np.floor(t)
        idx = (fs < 0.5).astype(np.int64) + (ft < 0.5)
        idx = np.where((fs < 0.08) | (ft < 0.08), 2, np.minimum(idx, 1))
    elif g.pattern == "dots":
        row = np.floor(t)
        fs = s + 0.5 * np.mod(row, 2)
        d = np.hypot(fs - np.floor(fs) - 0.5, t - row - 0.5)
        idx = np.where(d < 0.28, 1, np.where(d < 0.33, 2, 0))
    elif g.pattern == "print":
        ci, cj = np.floor(s), np.floor(t)
        r = _hash01(ci, cj, g.salt)
        fs, ft = s - ci - 0.5, t - cj - 0.5
        shape = np.where(r < 0.5, np.maximum(abs(fs), abs(ft)), np.hypot(fs, ft))
        idx = np.where((r < 0.7) & (shape < 0.2 + 0.25 * r), np.where(r < 0.35, 1, 2), 0)
    elif g.pattern == "text":
        idx = _text(s * g.period, t * g.period, 0.009, g.salt).astype(np.int64)
    else:  # plain: the base colour with a faint rib every period
        idx = np.where(t - np.floor(t) < 0.06, 2, 0)
    colors = np.stack([base, ink, accent])
    out = colors[idx]
    weave = 0.94 + 0.06 * (np.mod(np.floor(p / 0.003) + np.floor(q / 0.003), 2))
    return out * weave[..., None].astype(np.float32)


@lru_cache(maxsize=2)
def atlas_geometry(n: int = DEFAULT_N) -> tuple[np.ndarray, np.ndarray]:
    """Rest-pose point of every texel (6n, 4n, 3) float32 and its part id (6n, 4n) uint8."""
    rows, cols = atlas_shape(n)
    points = np.zeros((rows, cols, 3), np.float32)
    part = np.zeros((rows, cols), np.uint8)
    _, joints = forward_kinematics(np.zeros((1, N_BONES, 3)), REST_OFFSETS[None])
    grid = np.arange(n) / (n - 1)
    v, u = np.meshgrid(1.0 - grid, grid, indexing="ij")  # texel row -> V, column -> U
    for surface in SURFACES[:N_BODY_SURFACES]:
        local = evaluate(surface, u, v) @ FRAMES[surface.frame].T + surface.offset
        r0, c0 = tile_origin(surface.part, n)
        points[r0 : r0 + n, c0 : c0 + n] = local + joints[0, surface.bone_index]
        part[r0 : r0 + n, c0 : c0 + n] = surface.part
    return points, part


@lru_cache(maxsize=2)
def _texel_groups(n: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Flat texel indices and their rest points (k, 3) per body region."""
    points, part = atlas_geometry(n)
    flat_pts, flat_part = points.reshape(-1, 3), part.ravel()
    groups = {
        "torso": flat_part <= 2, "hands": (flat_part == 3) | (flat_part == 4),
        "feet": (flat_part == 5) | (flat_part == 6), "legs": (flat_part >= 7) & (flat_part <= 14),
        "arms": (flat_part >= 15) & (flat_part <= 22), "head": flat_part >= 23,
    }  # fmt: skip
    return {k: (np.flatnonzero(m), flat_pts[m]) for k, m in groups.items()}


def _paint(out: np.ndarray, idx: np.ndarray, xyz: np.ndarray, g: Garment) -> None:
    """Fill texels ``idx`` (rest points ``xyz``) with fabric ``g``; fabric axes: around, up."""
    rgb = pattern_rgb(g, xyz[:, 0] + xyz[:, 2], xyz[:, 1])
    out[idx] = np.clip(np.rint(rgb), 0, 255)


def _torso(ident: Identity, out: np.ndarray, idx: np.ndarray, xyz: np.ndarray) -> None:
    """Top above the waistband (V-neck or round neck left bare), bottom below, optional print."""
    x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    v_neck = (z > 0) & (abs(x) < 0.07)
    bare = y > NECK_Y - 0.035 - np.where(v_neck, 0.08, 0.0)
    low = y < ident.waist
    top = ~bare & ~low
    _paint(out, idx[top], xyz[top], ident.top)
    _paint(out, idx[low], xyz[low], ident.bottom)
    if ident.chest_print:
        patch = top & (z > 0) & (abs(x) < 0.08) & (abs(y - 0.3) < 0.05)
        ink = _text(x[patch], y[patch], 0.008, ident.top.salt + 7)
        out[idx[patch][ink]] = np.rint(ident.top.colors[2])


def _face(ident: Identity, out: np.ndarray, idx: np.ndarray, xyz: np.ndarray) -> None:
    """Eyes, brows, nose and mouth on the front of the head; hair colour on the scalp."""
    x, y, z = xyz[:, 0], xyz[:, 1] - NECK_Y, xyz[:, 2]
    front = z > 0.05
    eyes = front & (((abs(x) - 0.033) / 0.013) ** 2 + ((y - 0.205) / 0.007) ** 2 < 1)
    brows = front & (abs(abs(x) - 0.033) < 0.016) & (abs(y - 0.222) < 0.0035)
    mouth = front & ((x / 0.024) ** 2 + ((y - 0.13) / 0.006) ** 2 < 1)
    nose = front & ((x / 0.01) ** 2 + ((y - 0.17) / 0.02) ** 2 < 1)
    out[idx[nose]] = np.rint(ident.skin * 0.85)
    out[idx[mouth]] = np.rint(ident.skin * np.array([0.75, 0.42, 0.42]))
    out[idx[eyes]] = (30, 28, 34)
    scalp = (y > 0.235 - 0.09 * (z < 0.0)) if ident.hair_style != "bald" else np.zeros_like(eyes)
    out[idx[scalp | brows]] = np.clip(np.rint(ident.hair * (1.0 if ident.hair_style != "bald"
                                                            else 0.6)), 0, 255)  # fmt: skip


def _shoes(ident: Identity, out: np.ndarray, idx: np.ndarray, xyz: np.ndarray) -> None:
    y, z = xyz[:, 1], xyz[:, 2]
    out[idx] = np.rint(ident.shoes)
    laces = (y > -0.9) & (z > 0.0) & (np.mod(z / 0.012, 1) < 0.4)
    out[idx[laces]] = np.rint(255 - ident.shoes)
    out[idx[y < -0.955]] = (235, 235, 230)


def identity_atlas(ident: Identity, n: int = DEFAULT_N) -> np.ndarray:
    """The identity's full ground-truth texture atlas: (6n, 4n, 3) uint8 RGB."""
    rows, cols = atlas_shape(n)
    out = np.empty((rows * cols, 3), np.uint8)
    out[:] = np.clip(np.rint(ident.skin), 0, 255)
    groups = _texel_groups(n)
    _torso(ident, out, *groups["torso"])
    idx, xyz = groups["arms"]
    sleeve = (SHOULDER_Y - xyz[:, 1] < ident.sleeve) & (ident.sleeve > 0)
    _paint(out, idx[sleeve], xyz[sleeve], ident.top)
    if not ident.bottom_kind.startswith("skirt"):
        idx, xyz = groups["legs"]
        leg = HIP_Y - xyz[:, 1] < ident.trouser
        _paint(out, idx[leg], xyz[leg], ident.bottom)
    _shoes(ident, out, *groups["feet"])
    _face(ident, out, *groups["head"])
    return out.reshape(rows, cols, 3)


def extras_texture(ident: Identity, size: int = EXTRA_TEXTURE_SIZE) -> np.ndarray:
    """Textures of the hair and clothes surfaces, (n_extras, size, size, 3) uint8.

    Order follows parts.SURFACES[24:]; texel (r, c) is V = 1 - r/(size-1), U = c/(size-1).
    """
    grid = np.arange(size, dtype=np.float32) / (size - 1)
    v, u = np.meshgrid(1.0 - grid, grid, indexing="ij")
    strands = _hash01(np.floor(u * size * 3), np.zeros_like(u), ident.index + 11)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * (u * 41 + 0.15 * np.sin(2 * np.pi * v * 3)))
    hair = ident.hair * (0.62 + 0.28 * strands + 0.18 * wave)[..., None]
    skirt = pattern_rgb(ident.bottom, u * 1.5, v * 0.6)
    jacket_g = ident.jacket if ident.jacket is not None else ident.top
    jacket = pattern_rgb(jacket_g, u * 1.1, v * 0.7)
    pick = {"hair": hair, "skirt": skirt, "jacket": jacket}
    out = [pick[s.name.split("_")[0]] for s in SURFACES[N_BODY_SURFACES:]]
    return np.clip(np.rint(np.stack(out)), 0, 255).astype(np.uint8)
