"""Push-pull fill of a partial UV atlas: every unseen texel gets a smooth interpolation of the
visible texels of its own part, from local colours near the seen region to the part's mean far
from it.

Per part tile: *push* sums visible colours and counts up an image pyramid (2×2 sums, to 1×1);
*pull* walks back down, keeping each level's own average where it saw anything and the coarser
level's fill elsewhere. A part no view reaches takes its partner's fill (mirrored limb or other
torso half, ``PARTNER``), else the mean of every visible texel. Visible texels keep their value.

Strip fill (``strip_fill_parts``): the two halves of a segment (``iuv.OTHER_HALF_PART``: a limb's
front and back, the torso's, the head's sides) wrap around one axis, and garments change along
that axis (a sleeve's end, a waistline, a hem) far more than around it. So every unseen texel of a
split segment takes the mean colour seen in its own row (same V) across both halves; rows nobody
saw, hands and feet keep the push-pull fill. On the studio's validation split it errs 0.91× as
much as push-pull on unseen texels (``benchmarks/RESULTS.md``, issue #19).

Both are baselines of the texture-completion question (``metrics.texture``); the strip fill is
the starting point the inpainting network refines (``models.inpainter``, ``fill_prior``): the
network only has to learn what this fill gets wrong.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dpt_core.atlas import TILE_COLS, TILE_ROWS
from dpt_core.iuv import MIRROR_PART, N_PARTS, OTHER_HALF_PART


def atlas_to_parts(atlas_bchw: torch.Tensor) -> torch.Tensor:
    """(B, C, 6n, 4n) atlas -> (B, 24, C, n, n) part tiles; index ``p - 1`` holds part ``p``."""
    b, c, rows = atlas_bchw.shape[:3]
    n = rows // TILE_ROWS
    tiles = atlas_bchw.reshape(b, c, TILE_ROWS, n, TILE_COLS, n)
    return tiles.permute(0, 4, 2, 1, 3, 5).reshape(b, N_PARTS, c, n, n)


def parts_to_atlas(parts_bpcnn: torch.Tensor) -> torch.Tensor:
    """(B, 24, C, n, n) part tiles -> (B, C, 6n, 4n) atlas (inverse of ``atlas_to_parts``)."""
    b, _, c, n, _ = parts_bpcnn.shape
    tiles = parts_bpcnn.reshape(b, TILE_COLS, TILE_ROWS, c, n, n).permute(0, 3, 2, 4, 1, 5)
    return tiles.reshape(b, c, TILE_ROWS * n, TILE_COLS * n)


PARTNER = tuple(MIRROR_PART.get(p, 3 - p if p <= 2 else p) - 1 for p in range(1, N_PARTS + 1))
"""Index (part - 1) of every part's partner tile: its mirror, or the other torso half."""

SPAN_POWER = 4.0
SPAN_AGREEMENT = 0.1
"""``span_fill``'s weighting of a pixel's row against its column: span ** -SPAN_POWER ·
exp(-(d / SPAN_AGREEMENT) ** 2), d the mean absolute colour difference of the two ends ([-1, 1]
colours; 0.5 in place of the exponential where only one end is known), computed in logs so
that two directions that both disagree still share by span. Chosen with
``benchmarks/plate_fill.py`` on the validation split (issue #19 in ``benchmarks/RESULTS.md``):
L1 on the background that the source person hid 0.0737 for push-pull, 0.0644-0.0663 for span
weights alone, 0.0596 for these values (0.0596-0.0617 across powers 2-8 and scales 0.05-0.2)."""

_HALVES = sorted(OTHER_HALF_PART)
_OTHER_HALVES = [OTHER_HALF_PART[p] for p in _HALVES]


def push_pull(rgb: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) colours and (N, 1, H, W) 0/1 weights -> (N, C, H, W): every pixel with
    weight 1 keeps its colour, the others take the mean of the nearest coarser level that has
    any (a pyramid down by averaging, back up by bilinear upsampling)."""
    sums, counts = [rgb * vis], [vis]
    while sums[-1].shape[-1] > 1:
        side = sums[-1].shape[-1]
        k = 2 if side % 2 == 0 else side  # odd tile sides go straight to 1×1
        sums.append(F.avg_pool2d(sums[-1], k) * k * k)
        counts.append(F.avg_pool2d(counts[-1], k) * k * k)
    fill = sums[-1] / counts[-1].clamp_min(1e-8)
    for s, c in zip(reversed(sums[:-1]), reversed(counts[:-1]), strict=True):
        up = F.interpolate(fill, size=s.shape[-2:], mode="bilinear", align_corners=False)
        fill = torch.where(c > 0, s / c.clamp_min(1e-8), up)
    return fill


def push_pull_fill_parts(parts: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """Fill part tiles: ``parts`` (B, 24, C, n, n), ``vis`` (B, 24, 1, n, n) 0/1 -> the same
    shape as ``parts``, visible texels unchanged (see the module docstring)."""
    want = (*parts.shape[:2], 1, *parts.shape[3:])
    if parts.ndim != 5 or parts.shape[1] != N_PARTS or tuple(vis.shape) != want:
        raise ValueError(
            f"parts, vis: expected (B, 24, C, n, n) and (B, 24, 1, n, n), "
            f"got {tuple(parts.shape)} and {tuple(vis.shape)}"
        )
    b, p, c, n, _ = parts.shape
    vis = vis.to(parts.dtype)
    fill = push_pull(parts.reshape(b * p, c, n, n), vis.reshape(b * p, 1, n, n))
    fill = fill.reshape(b, p, c, n, n)
    seen = vis.amax((-1, -2), keepdim=True) > 0  # (B, 24, 1, 1, 1)
    partner, partner_seen = fill[:, list(PARTNER)], seen[:, list(PARTNER)]
    total = vis.sum((1, 3, 4), keepdim=True)
    overall = (parts * vis).sum((1, 3, 4), keepdim=True) / total.clamp_min(1.0)
    fill = torch.where(seen, fill, torch.where(partner_seen, partner, overall))
    return torch.where(vis > 0, parts, fill)


def strip_fill_parts(parts: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """Fill part tiles like ``push_pull_fill_parts``, then give every unseen texel of a split
    segment the mean colour its row (V) shows across both halves (see the module docstring).
    Shapes as ``push_pull_fill_parts``; visible texels unchanged."""
    fill = push_pull_fill_parts(parts, vis)
    vis = vis.to(parts.dtype)
    row_sums, row_counts = (parts * vis).sum(-1), vis.sum(-1)  # (B, 24, C, n), (B, 24, 1, n)
    own = [p - 1 for p in _HALVES]
    other = [p - 1 for p in _OTHER_HALVES]
    sums = row_sums[:, own] + row_sums[:, other]
    counts = row_counts[:, own] + row_counts[:, other]
    row_mean = (sums / counts.clamp_min(1.0)).unsqueeze(-1).expand_as(fill[:, own])
    use = (counts > 0).unsqueeze(-1) & (vis[:, own] == 0)
    fill = fill.clone()
    fill[:, own] = torch.where(use, row_mean, fill[:, own])
    return fill


def _row_span(
    rgb: torch.Tensor, known: torch.Tensor, power: float, agreement: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Along the last axis: (fill, log weight). Every pixel is interpolated linearly between
    the nearest known pixels left and right of it (one side only: that side's colour, the span
    twice its distance); log weight = -power · log(span) - (d / agreement) ** 2 with d the two
    ends' mean absolute difference (log 0.5 for one end), -inf with no known pixel."""
    w = rgb.shape[-1]
    x = torch.arange(w, device=rgb.device).expand_as(known)
    left = torch.where(known, x, -1).cummax(-1).values
    right = torch.where(known, x, w).flip(-1).cummin(-1).values.flip(-1)
    has_l, has_r = left >= 0, right < w
    lv = rgb.gather(-1, left.clamp(0, w - 1).expand_as(rgb))
    rv = rgb.gather(-1, right.clamp(0, w - 1).expand_as(rgb))
    both = has_l & has_r
    t = torch.where(both, (x - left) / (right - left).clamp_min(1), 0.0)
    fill = torch.where(both, (1 - t) * lv + t * rv, torch.where(has_l, lv, rv))
    one_side = torch.where(has_l, 2 * (x - left), 2 * (right - x)).to(rgb.dtype)
    span = torch.where(both, (right - left).to(rgb.dtype), one_side).clamp_min(1)
    d = (lv - rv).abs().mean(1, keepdim=True)
    agree = torch.where(both, -((d / agreement) ** 2), math.log(0.5))
    log_weight = -power * span.log() + agree
    return fill, torch.where(has_l | has_r, log_weight, -torch.inf)


def span_fill(
    rgb: torch.Tensor,
    vis: torch.Tensor,
    power: float = SPAN_POWER,
    agreement: float = SPAN_AGREEMENT,
) -> torch.Tensor:
    """(N, C, H, W) colours and (N, 1, H, W) 0/1 weights -> (N, C, H, W): every pixel with
    weight 0 takes the linear interpolation between the nearest weight-1 pixels of its row and
    of its column, the two weighted by how short their span is and how well their two ends agree
    (``power``, ``agreement``: see ``SPAN_POWER``): a tall hole in a plain or horizontally
    striped backdrop is filled from its sides, one in vertical stripes from above and below, so
    a horizon, a floor line or a stripe runs on through it. Pixels with no weight-1 pixel in
    their row or column take the mean of the image's weight-1 pixels. Weight-1 pixels keep
    their colour."""
    known = vis > 0.5
    row, log_row = _row_span(rgb, known, power, agreement)
    col, log_col = (
        t.transpose(-1, -2) for t in _row_span(rgb.transpose(-1, -2), known.mT, power, agreement)
    )
    w_row = torch.sigmoid(log_row - log_col)  # the row's share; NaN where neither knows
    fill = w_row * row + (1 - w_row) * col
    known_f = known.to(rgb.dtype)
    mean = (rgb * known_f).sum((-1, -2), keepdim=True) / known_f.sum((-1, -2), keepdim=True)
    fill = torch.where(torch.isinf(log_row) & torch.isinf(log_col), mean.nan_to_num(0.0), fill)
    return torch.where(known, rgb, fill)
