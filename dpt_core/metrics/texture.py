"""Texture completion: error on texels the source view did not see, and simple baselines.

Baselines of the completion question (each fills only unseen texels): ``mean_part_colour_fill``
(the part's mean visible colour), ``nearest_visible_fill`` (the nearest visible texel of the same
part), ``mirrored_part_fill`` (the same (U, V) on the mirrored part where that one is seen, else
the part mean), ``push_pull_fill`` (smooth interpolation of the part's visible texels) and its
row-wise refinement ``strip_fill`` (the fill the inpainting network starts from);
``nearest_view_fill`` copies from other views (an oracle with more input). ``observed_atlas``
builds the appearance ground truth from all of a person's views.

Atlases are DensePose atlases ``(6n, 4n, C)`` (see ``dpt_core.atlas``), uint8 or float in
[0, 1]; visibility masks are ``(6n, 4n)`` bool. Errors are in [0, 1] units (uint8 / 255).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np
import torch

from dpt_core.atlas import atlas_shape, scatter, tile_origin
from dpt_core.iuv import MIRROR_PART, N_PARTS
from dpt_core.texture_fill import (
    atlas_to_parts,
    parts_to_atlas,
    push_pull_fill_parts,
    strip_fill_parts,
)


def _atlas(atlas: np.ndarray, name: str) -> np.ndarray:
    if not isinstance(atlas, np.ndarray) or atlas.ndim != 3:
        raise ValueError(f"{name}: expected a (6n, 4n, C) numpy array")
    if atlas.dtype == np.uint8:
        return atlas
    if not np.issubdtype(atlas.dtype, np.floating):
        raise ValueError(f"{name}: expected uint8 or float in [0, 1], got {atlas.dtype}")
    return atlas


def _unit(atlas: np.ndarray) -> np.ndarray:
    return atlas / 255.0 if atlas.dtype == np.uint8 else atlas.astype(np.float64)


def _mask(mask: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    if not isinstance(mask, np.ndarray) or mask.shape != shape:
        got = mask.shape if isinstance(mask, np.ndarray) else type(mask)
        raise ValueError(f"{name}: expected a {shape} mask, got {got}")
    return mask.astype(bool)


def texture_completion_error(
    pred_atlas: np.ndarray,
    gt_atlas: np.ndarray,
    seen_mask: np.ndarray,
    body_mask: np.ndarray | None = None,
) -> float:
    """Mean absolute error (all channels, [0, 1] units) over texels unseen by the source.

    ``seen_mask``: texels the source view saw; ``body_mask``: texels the ground-truth body
    atlas covers (``None``: every texel). ValueError when no texel is left to score.
    """
    pred = _atlas(pred_atlas, "pred_atlas")
    gt = _atlas(gt_atlas, "gt_atlas")
    if pred.shape != gt.shape:
        raise ValueError(f"pred_atlas {pred.shape} and gt_atlas {gt.shape} shapes differ")
    scored = ~_mask(seen_mask, gt.shape[:2], "seen_mask")
    if body_mask is not None:
        scored &= _mask(body_mask, gt.shape[:2], "body_mask")
    if not scored.any():
        raise ValueError("seen_mask/body_mask: no unseen body texel to score")
    return float(np.abs(_unit(pred)[scored] - _unit(gt)[scored]).mean())


def part_map(n: int) -> np.ndarray:
    """``(6n, 4n)`` int64 map of the part id (1..24) owning every atlas texel."""
    parts = np.zeros(atlas_shape(n), dtype=np.int64)
    for part in range(1, N_PARTS + 1):
        row0, col0 = tile_origin(part, n)
        parts[row0 : row0 + n, col0 : col0 + n] = part
    return parts


def _cast_like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.uint8:
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return values.astype(dtype)


def mean_part_colour_fill(partial_atlas: np.ndarray, visibility: np.ndarray, n: int) -> np.ndarray:
    """Fill every unseen texel with the mean visible colour of its part's tile.

    A part with no visible texel gets the mean of all visible texels (0 if none is visible).
    Returns an atlas of the input's shape and dtype; visible texels are unchanged.
    """
    atlas, seen = _check_fill_inputs(partial_atlas, visibility, n)
    parts = part_map(n)
    values = atlas.astype(np.float64)
    counts = np.bincount(parts[seen], minlength=N_PARTS + 1).astype(np.float64)
    sums = np.stack(
        [
            np.bincount(parts[seen], weights=values[..., c][seen], minlength=N_PARTS + 1)
            for c in range(atlas.shape[2])
        ],
        axis=1,
    )
    overall = sums.sum(0) / max(counts.sum(), 1.0)
    means = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1.0)[:, None], overall)
    filled = np.where(seen[..., None], values, means[parts])
    return _cast_like(filled, atlas.dtype)


def nearest_view_fill(
    partial_atlas: np.ndarray,
    visibility: np.ndarray,
    other_atlases: Sequence[np.ndarray],
    other_visibilities: Sequence[np.ndarray],
) -> np.ndarray:
    """Copy every unseen texel from the first other view (in the given order) that sees it.

    Texels no view sees keep the partial atlas's value. Returns the input's shape and dtype.
    """
    atlas = _atlas(partial_atlas, "partial_atlas")
    seen = _mask(visibility, atlas.shape[:2], "visibility")
    if len(other_atlases) != len(other_visibilities):
        raise ValueError(
            f"other_atlases ({len(other_atlases)}) and other_visibilities "
            f"({len(other_visibilities)}) differ in length"
        )
    if not other_atlases:
        return atlas.copy()
    for i, other in enumerate(other_atlases):
        _atlas(other, f"other_atlases[{i}]")
        if other.shape != atlas.shape or other.dtype != atlas.dtype:
            raise ValueError(
                f"other_atlases[{i}]: expected {atlas.shape} {atlas.dtype}, "
                f"got {other.shape} {other.dtype}"
            )
    others = np.stack(other_atlases)
    others_seen = np.stack(
        [
            _mask(v, atlas.shape[:2], f"other_visibilities[{i}]")
            for i, v in enumerate(other_visibilities)
        ]
    )
    first = others_seen.argmax(0)  # index of the first view that sees each texel
    copied = np.take_along_axis(others, first[None, ..., None], axis=0)[0]
    take = ~seen & others_seen.any(0)
    return np.where(take[..., None], copied, atlas)


def _check_fill_inputs(partial_atlas: np.ndarray, visibility: np.ndarray, n: int):
    atlas = _atlas(partial_atlas, "partial_atlas")
    if atlas.shape[:2] != atlas_shape(n):
        raise ValueError(
            f"partial_atlas: expected {atlas_shape(n)} texels for n={n}, got {atlas.shape[:2]}"
        )
    return atlas, _mask(visibility, atlas.shape[:2], "visibility")


def nearest_visible_fill(partial_atlas: np.ndarray, visibility: np.ndarray, n: int) -> np.ndarray:
    """Fill every unseen texel with the nearest (Euclidean, in texels) visible texel of its own
    part's tile; parts with no visible texel get the mean-part-colour fill. Input shape/dtype."""
    atlas, seen = _check_fill_inputs(partial_atlas, visibility, n)
    out = mean_part_colour_fill(atlas, seen, n)
    for part in range(1, N_PARTS + 1):
        r0, c0 = tile_origin(part, n)
        tile_seen = seen[r0 : r0 + n, c0 : c0 + n]
        if not tile_seen.any() or tile_seen.all():
            continue
        _, labels = cv2.distanceTransformWithLabels(
            (~tile_seen).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE,
            labelType=cv2.DIST_LABEL_PIXEL,
        )  # fmt: skip
        rows, cols = np.nonzero(tile_seen)  # every seen texel carries its own label
        lookup = np.zeros((labels.max() + 1, 2), np.int64)
        lookup[labels[rows, cols]] = np.stack([rows, cols], 1)
        src = lookup[labels]
        tile = atlas[r0 : r0 + n, c0 : c0 + n]
        filled = tile[src[..., 0], src[..., 1]]
        out[r0 : r0 + n, c0 : c0 + n] = np.where(tile_seen[..., None], tile, filled)
    return out


def mirrored_part_fill(partial_atlas: np.ndarray, visibility: np.ndarray, n: int) -> np.ndarray:
    """Fill unseen texels of the 22 parts with a left/right twin (``iuv.MIRROR_PART``) from the
    twin's texel at the same (U, V) where the twin saw it; everything else, and the torso, gets
    the mean-part-colour fill. Returns the input's shape and dtype."""
    atlas, seen = _check_fill_inputs(partial_atlas, visibility, n)
    out = mean_part_colour_fill(atlas, seen, n)
    for part, twin in MIRROR_PART.items():
        r0, c0 = tile_origin(part, n)
        t0, u0 = tile_origin(twin, n)
        take = ~seen[r0 : r0 + n, c0 : c0 + n] & seen[t0 : t0 + n, u0 : u0 + n]
        tile = out[r0 : r0 + n, c0 : c0 + n]
        tile[take] = atlas[t0 : t0 + n, u0 : u0 + n][take]
    return out


def _fill_with(fill_parts, partial_atlas: np.ndarray, visibility: np.ndarray, n: int) -> np.ndarray:
    atlas, seen = _check_fill_inputs(partial_atlas, visibility, n)
    values = torch.from_numpy(_unit(atlas)).permute(2, 0, 1)[None]
    vis = torch.from_numpy(seen)[None, None].to(values.dtype)
    parts = atlas_to_parts(torch.cat((values * vis, vis), dim=1))
    fill = parts_to_atlas(fill_parts(parts[:, :, :-1], parts[:, :, -1:]))
    out = fill[0].permute(1, 2, 0).numpy()
    return _cast_like(out * 255.0, np.uint8) if atlas.dtype == np.uint8 else out.astype(atlas.dtype)


def push_pull_fill(partial_atlas: np.ndarray, visibility: np.ndarray, n: int) -> np.ndarray:
    """Fill unseen texels by push-pull interpolation of their part's visible texels (the partner
    part's where a part is unseen; ``dpt_core.texture_fill``). Input shape and dtype."""
    return _fill_with(push_pull_fill_parts, partial_atlas, visibility, n)


def strip_fill(partial_atlas: np.ndarray, visibility: np.ndarray, n: int) -> np.ndarray:
    """Push-pull, then every unseen texel of a two-half segment gets the mean colour seen in its
    row across both halves (``texture_fill.strip_fill_parts``). Input shape and dtype."""
    return _fill_with(strip_fill_parts, partial_atlas, visibility, n)


def texture_error_by_part(
    pred_atlas: np.ndarray,
    gt_atlas: np.ndarray,
    seen_mask: np.ndarray,
    n: int,
    body_mask: np.ndarray | None = None,
) -> np.ndarray:
    """(24,) mean absolute error ([0, 1] units) on each part's unseen texels (within
    ``body_mask`` when given); NaN where a part has none (the source saw all of it)."""
    pred, gt = _unit(_atlas(pred_atlas, "pred_atlas")), _unit(_atlas(gt_atlas, "gt_atlas"))
    if pred.shape != gt.shape or gt.shape[:2] != atlas_shape(n):
        raise ValueError(f"pred_atlas {pred.shape} / gt_atlas {gt.shape}: expected n={n} atlases")
    scored = ~_mask(seen_mask, gt.shape[:2], "seen_mask")
    if body_mask is not None:
        scored &= _mask(body_mask, gt.shape[:2], "body_mask")
    error = np.abs(pred - gt).mean(-1)
    parts = part_map(n)[scored]
    sums = np.bincount(parts, weights=error[scored], minlength=N_PARTS + 1)[1:]
    counts = np.bincount(parts, minlength=N_PARTS + 1)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def observed_atlas(
    views: Iterable[tuple[np.ndarray, np.ndarray]], n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The appearance atlas of a person: every texel's mean colour over the ``(image_hw3 uint8,
    iuv_hw3)`` views that see it. Returns (atlas (6n, 4n, 3) uint8, observed (6n, 4n) bool).

    The ground truth for texture completion when loose clothing and hair are labelled as the
    body beneath them (as DensePose does): a texel under a skirt *looks* like the skirt, which a
    skin-only atlas does not say. ValueError when no view is given.
    """
    sums = np.zeros((*atlas_shape(n), 3), np.float64)
    counts = np.zeros(atlas_shape(n), np.int64)
    n_views = 0
    for image, iuv in views:
        partial, seen = scatter(image, iuv, n)
        sums[seen] += partial[seen]
        counts += seen
        n_views += 1
    if not n_views:
        raise ValueError("views: no (image, iuv) view given")
    observed = counts > 0
    atlas = np.where(observed[..., None], sums / np.maximum(counts, 1)[..., None], 0.0)
    return np.clip(np.rint(atlas), 0, 255).astype(np.uint8), observed
