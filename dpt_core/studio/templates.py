"""Point templates: every studio surface sampled on a (U, V) grid, packed in fixed-size blocks.

A ``TemplateBank`` holds all surfaces sampled at one spacing (metres). Points are stored as
blocks of ``block`` points, (n_blocks, 3, block), so a renderer can transform every block with
its own 3x4 matrix by broadcasting (no per-surface Python loop, no skinny matmul). The tail of a
surface's last block repeats its last point and id, which renders exactly like the point itself.
Banks come in geometric levels of spacing so a renderer picks the coarsest one that still puts a
sample inside every pixel; they are built once per level and cached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

from dpt_core.iuv import quantize_uv
from dpt_core.studio.parts import N_BODY_SURFACES, SURFACE_PART, SURFACES, surface_grid

LEVEL0_SPACING = 0.04  # metres between samples at level 0
LEVEL_RATIO = 0.9  # spacing shrinks by this factor per level
MAX_POINTS = 1 << 24  # point ids are packed into 24 bits of the z-buffer key


@dataclass(frozen=True, eq=False)
class TemplateBank:
    """All surfaces sampled at ``spacing``; per-point arrays are indexed by point id."""

    spacing: float
    block: int
    points: torch.Tensor  # (n_blocks, 3, block) float32, part-frame coordinates
    ids: torch.Tensor  # (n_blocks, block) float64, point id of every block slot
    normals: torch.Tensor  # (n_points, 3) float32, outward unit normals in the part frame
    uv: torch.Tensor  # (n_points, 2) float32, chart coordinates in [0, 1]
    surface: torch.Tensor  # (n_points,) int64, index into parts.SURFACES
    block_surface: torch.Tensor  # (n_blocks,) int64
    surface_blocks: tuple[tuple[int, int], ...]  # (first block, block count) per surface

    lookups: dict = field(default_factory=dict, repr=False)  # (n, t) -> point_lookup result

    def point_lookup(self, n: int, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per point: IUV (N, 3) uint8 (I and ``iuv.quantize_uv`` levels; zeros off the body) and
        the flat texel index (N,) int64 into an atlas of n×n tiles (24·n² texels) followed by
        extras textures of t×t texels (see textures.extras_texture)."""
        if (n, t) not in self.lookups:
            self.lookups[(n, t)] = _point_lookup(self, n, t)
        return self.lookups[(n, t)]

    def blocks_for(self, surfaces: list[int]) -> torch.Tensor:
        """Block indices (int64) covering the given surface indices, in order."""
        ranges = [torch.arange(s, s + n) for s, n in (self.surface_blocks[i] for i in surfaces)]
        return torch.cat(ranges)


def _point_lookup(bank: TemplateBank, n: int, t: int) -> tuple[torch.Tensor, torch.Tensor]:
    surface, uv = bank.surface.numpy(), bank.uv.numpy().astype(np.float64)
    part = SURFACE_PART[surface]
    body = part > 0
    u8 = np.where(body, quantize_uv(uv[:, 0]), 0).astype(np.int64)  # the IUV file's levels
    v8 = np.where(body, quantize_uv(uv[:, 1]), 0).astype(np.int64)
    p0 = np.maximum(part - 1, 0)
    row = p0 % 6 * n + (255 - v8) * (n - 1) // 255  # the atlas module's nearest-texel rule
    texel = row * (4 * n) + p0 // 6 * n + u8 * (n - 1) // 255
    e_row = np.rint((1 - uv[:, 1]) * (t - 1)).astype(np.int64)
    e_col = np.rint(uv[:, 0] * (t - 1)).astype(np.int64)
    extra = 24 * n * n + (np.maximum(surface - N_BODY_SURFACES, 0) * t + e_row) * t + e_col
    iuv = np.stack([part, u8, v8], 1).astype(np.uint8)
    return torch.from_numpy(iuv), torch.from_numpy(np.where(body, texel, extra))


def level_for_spacing(spacing: float) -> int:
    """The coarsest level whose spacing is <= ``spacing`` (metres)."""
    if not spacing > 0:
        raise ValueError(f"spacing must be positive, got {spacing}")
    return max(0, math.ceil(math.log(spacing / LEVEL0_SPACING) / math.log(LEVEL_RATIO) - 1e-9))


def _block_size(counts: list[int]) -> int:
    target = max(32, min(2048, sum(counts) // (2 * len(counts))))
    return 1 << int(math.log2(target))


@lru_cache(maxsize=16)
def template_bank(level: int) -> TemplateBank:
    """Every surface sampled at level ``level``: spacing LEVEL0_SPACING * LEVEL_RATIO**level."""
    spacing = LEVEL0_SPACING * LEVEL_RATIO**level
    grids = [surface_grid(s, spacing) for s in SURFACES]
    counts = [len(g[0]) for g in grids]
    if sum(counts) >= MAX_POINTS:
        raise ValueError(f"level {level} needs {sum(counts)} points, more than {MAX_POINTS}")
    block = _block_size(counts)
    padded, slot_ids, block_surface, spans = [], [], [], []
    start, first_block = 0, 0
    for index, (pts, _, _) in enumerate(grids):
        n = len(pts)
        n_blocks = -(-n // block)
        take = np.minimum(np.arange(n_blocks * block), n - 1)
        padded.append(pts[take].reshape(n_blocks, block, 3).transpose(0, 2, 1))
        slot_ids.append((start + take).reshape(n_blocks, block))
        block_surface += [index] * n_blocks
        spans.append((first_block, n_blocks))
        start, first_block = start + n, first_block + n_blocks
    return TemplateBank(
        spacing=spacing,
        block=block,
        points=torch.from_numpy(np.ascontiguousarray(np.concatenate(padded))),
        ids=torch.from_numpy(np.concatenate(slot_ids).astype(np.float64)),
        normals=torch.from_numpy(np.concatenate([g[1] for g in grids])),
        uv=torch.from_numpy(np.concatenate([g[2] for g in grids])),
        surface=torch.from_numpy(np.repeat(np.arange(len(grids)), counts)),
        block_surface=torch.tensor(block_surface, dtype=torch.int64),
        surface_blocks=tuple(spans),
    )
