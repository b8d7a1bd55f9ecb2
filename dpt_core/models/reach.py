"""Carry the source's hair and loose clothing to the target along the body's motion.

DensePose labels hair and loose clothing I = 0, so the warped image is 0 there and only the
predictive branch paints them, as a guess. But they move with the body part they hang from:
hair above the head moves with the head, a skirt's hem with the legs. ``reach`` extends the
dense correspondence of the body to the pixels around it:

1. every visible texel of the source gets the mean source pixel position landing on it
   (``scatter_torch`` of the pixel coordinates);
2. every target body pixel whose texel the source saw gets that source position
   (``gather_torch``): a flow from target to source on the body;
3. the flow is carried off the body to every pixel of the target's person hole by a push-pull
   fill (nearby body pixels dominate);
4. the source image is sampled at each hole pixel plus its flow (bilinear, border padding).

So a pixel just above the target's head reads the pixel just above the source's head. The
result is a candidate for the blender on the target's person hole off its body, where the
predictive branch is its only other one.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from dpt_core.atlas import gather_torch, scatter_torch
from dpt_core.models.blocks import body_mask, person_hole
from dpt_core.texture_fill import push_pull


class Reach(NamedTuple):
    """``image`` (B, 3, H, W) the source sampled along the extended flow (0 outside ``where``);
    ``where`` (B, 1, H, W) 0/1: the target's person hole off its body, where a flow exists."""

    image: torch.Tensor
    where: torch.Tensor


def _pixel_grid(b: int, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) float pixel coordinates (x, y)."""
    ys, xs = torch.meshgrid(
        torch.arange(h, device=like.device, dtype=torch.float32),
        torch.arange(w, device=like.device, dtype=torch.float32),
        indexing="ij",
    )
    return torch.stack((xs, ys)).expand(b, 2, h, w)


def reach(
    source_bchw: torch.Tensor,
    source_iuv_b3hw: torch.Tensor,
    target_iuv_b3hw: torch.Tensor,
    atlas_n: int,
    margin: float = 1 / 32,
) -> Reach:
    """The source (B, C, H, W), any channels, carried into the target's person hole
    (``margin``: ``blocks.person_hole``) along the body's flow; see the module docstring.
    Not differentiable (an input)."""
    b, _, h, w = source_bchw.shape
    grid = _pixel_grid(b, h, w, source_bchw)
    positions, seen = scatter_torch(grid, source_iuv_b3hw, atlas_n)
    at_target = gather_torch(positions, target_iuv_b3hw, mode="nearest")
    known = gather_torch(seen, target_iuv_b3hw, mode="nearest") * body_mask(target_iuv_b3hw)
    flow = push_pull((at_target - grid) * known, known)
    where = (person_hole(target_iuv_b3hw, margin) - body_mask(target_iuv_b3hw)).clamp_min(0)
    where = where * (known.flatten(1).amax(1) > 0).float().view(b, 1, 1, 1)
    x, y = (grid + flow).unbind(1)
    sample_at = torch.stack((x / max(w - 1, 1), y / max(h - 1, 1)), dim=-1) * 2 - 1
    image = F.grid_sample(source_bchw.float(), sample_at, mode="bilinear",
                          padding_mode="border", align_corners=True)  # fmt: skip
    return Reach(image * where, where)


PRESENCE_SCALE = 0.1  # |source - plate| (mean over channels, [-1, 1] scale) that counts as person


def presence(
    source_bchw: torch.Tensor,
    source_iuv_b3hw: torch.Tensor,
    plate: torch.Tensor,
    hole: torch.Tensor,
) -> torch.Tensor:
    """(B, 1, H, W) in [0, 1]: how much each source pixel is the person rather than the backdrop.
    1 on the body, ``|source - plate| / PRESENCE_SCALE`` (clamped) in the person ``hole`` off it,
    0 outside the hole; ``plate`` is the source with its hole filled from around it."""
    off = ((source_bchw - plate).abs().mean(1, keepdim=True) / PRESENCE_SCALE).clamp(0, 1)
    return torch.maximum(off * hole, body_mask(source_iuv_b3hw))
