"""Procedural textured backgrounds: a patterned wall over a patterned floor in perspective.

Each 2×2 pixel cell gets one of four palette colours (wall, wall ink, floor, floor ink), in
eight shades down the image, from cheap broadcast tests on row and column coordinates; this
keeps a 256×256 background well under a millisecond.
"""

from __future__ import annotations

import colorsys
from functools import lru_cache

import numpy as np
import torch

WALLS = ("plain", "stripes", "tiles", "dots", "waves")
FLOORS = ("checker", "planks", "plain")


@lru_cache(maxsize=8)
def _grid(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Centres of 2×2 pixel cells: rows (ceil(H/2), 1), columns (1, ceil(W/2)), in image heights."""
    ys = (torch.arange((height + 1) // 2, dtype=torch.float32)[:, None] * 2 + 0.5) / height
    xs = (torch.arange((width + 1) // 2, dtype=torch.float32)[None, :] * 2 + 0.5) / height
    return ys, xs


def _wall(kind: str, xs: torch.Tensor, ys: torch.Tensor, k: float, phase: float) -> torch.Tensor:
    """Boolean (H, W) (or broadcastable) mask of the wall's second colour."""
    if kind == "stripes":
        return (xs * k + phase) % 1.0 < 0.5
    if kind == "tiles":
        return ((xs * k) % 1.0 < 0.06) | ((ys * k) % 1.0 < 0.06)
    if kind == "dots":
        fx, fy = (xs * k + phase) % 1.0 - 0.5, (ys * k) % 1.0 - 0.5
        return fx * fx + fy * fy < 0.06
    if kind == "waves":
        return torch.sin(6.2832 * (xs * k + 0.3 * torch.sin(3.1416 * ys * k))) > 0
    return torch.zeros(1, 1, dtype=torch.bool)


def _floor(kind: str, xs: torch.Tensor, depth: torch.Tensor, k: float) -> torch.Tensor:
    """Boolean floor pattern; ``depth`` (H, 1) grows toward the horizon."""
    if kind == "checker":
        return (torch.floor(xs * depth * k) + torch.floor(depth * k)) % 2 > 0
    if kind == "planks":
        return (xs * depth * k * 0.5) % 1.0 < 0.08
    return torch.zeros(1, 1, dtype=torch.bool)


def _palette(rng: np.random.Generator, horizon: float, bands: int = 8) -> torch.Tensor:
    """(3, 4, bands) float32 integer colours of wall, wall ink, floor and floor ink, each in
    ``bands`` shades, lighter toward the horizon."""
    ranges = [((0.0, 0.5), (0.4, 0.95)), ((0.0, 0.7), (0.2, 0.9)),
              ((0.0, 0.5), (0.2, 0.7)), ((0.0, 0.5), (0.3, 0.9))]  # fmt: skip
    rgb = [colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*s), rng.uniform(*v)) for s, v in ranges]
    y = (np.arange(bands) + 0.5) / bands
    wall_shade, floor_shade = 0.85 + 0.15 * y, 1.0 - 0.3 * y
    shade = np.stack([wall_shade, wall_shade, floor_shade, floor_shade])  # (4, bands)
    colours = np.array(rgb)[:, :, None] * shade[:, None, :] * 255.0  # (4, 3, bands)
    return torch.from_numpy(np.rint(colours).clip(0, 255).astype(np.float32)).permute(1, 0, 2)


def background_rgb(seed: int, height: int, width: int) -> torch.Tensor:
    """A deterministic textured background: (3, height, width) uint8, depending on ``seed`` only."""
    rng = np.random.default_rng([seed, 7])
    ys, xs = _grid(height, width)
    wall = _wall(WALLS[rng.integers(len(WALLS))], xs, ys, rng.uniform(4, 14), rng.uniform())
    floor_kind, floor_k = FLOORS[rng.integers(len(FLOORS))], float(rng.uniform(1.5, 4))
    horizon = float(rng.uniform(0.6, 0.85))
    palette = _palette(rng, horizon).reshape(3, -1)
    depth = 1.0 / (ys - horizon).clamp_min(0.1)  # clamped: no moiré at the horizon
    floor = _floor(floor_kind, xs - width / height / 2, depth, floor_k)
    below = ys > horizon
    band = torch.where(below, (ys - horizon) / (1 - horizon), ys / horizon).mul_(8).long()
    cls = torch.where(below, 2 + floor.long(), wall.long()) * 8 + band.clamp_(0, 7)
    h2, w2 = ys.shape[0], xs.shape[1]
    cls = cls.expand(h2, w2)[:, None, :, None].expand(h2, 2, w2, 2).reshape(2 * h2, 2 * w2)
    img = palette.index_select(1, cls[:height, :width].reshape(-1))  # float: fast gather
    return img.to(torch.uint8).view(3, height, width)
