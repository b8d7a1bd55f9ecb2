"""numpy scatter and gather of one ``(H, W, C)`` image through its IUV."""

from __future__ import annotations

import numpy as np

from dpt_core.atlas.layout import (
    _MODES,
    DEFAULT_N,
    TILE_COLS,
    _flat_luts,
    _luts,
    _n_from_atlas,
    atlas_shape,
    bilinear_offset,
)
from dpt_core.iuv import validate_iuv


def _rows(array_nc: np.ndarray) -> np.ndarray:
    """(N,) view of a C-contiguous (N, C) array, one opaque element per row: fast row indexing."""
    row_dtype = np.dtype((np.void, array_nc.dtype.itemsize * array_nc.shape[1]))
    return array_nc.view(row_dtype).reshape(-1)


def _body_texels(iuv_hw3: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Body pixels only: (flat pixel indices (N,), flat texel indices (N,), their IUV (N, 3))."""
    iuv_n3 = np.ascontiguousarray(iuv_hw3).reshape(-1, 3)
    pixels = np.flatnonzero(iuv_n3[:, 0] != 0)
    iuv_n3 = np.take(_rows(iuv_n3), pixels).view(np.uint8).reshape(-1, 3)
    by_part, by_v, by_u = _flat_luts(n)
    lookups = zip((by_part, by_u, by_v), iuv_n3.T, strict=True)
    texels = sum(np.take(table, keys, mode="clip") for table, keys in lookups)  # keys in range
    return pixels, texels, iuv_n3


def _as_hwc(arr: np.ndarray, name: str) -> np.ndarray:
    if not isinstance(arr, np.ndarray) or arr.ndim not in (2, 3):
        raise ValueError(f"{name}: expected a (H, W) or (H, W, C) numpy array")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name}: expected an integer or float dtype, got {arr.dtype}")
    return arr if arr.ndim == 3 else arr[..., None]


def _cast_like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float64 values -> dtype, rounding and clipping for integer dtypes."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    return values.astype(dtype)


def scatter(
    image_hw3: np.ndarray, iuv_hw3: np.ndarray, n: int = DEFAULT_N
) -> tuple[np.ndarray, np.ndarray]:
    """Project an image into the atlas through its IUV.

    ``image_hw3``: (H, W, C) or (H, W), integer or float. Returns (atlas (6n, 4n, C) or (6n, 4n)
    in the image's dtype, visibility (6n, 4n) bool). A texel hit by several pixels gets the mean
    of their colours (rounded for integer dtypes); texels no pixel hits are 0 and not visible.
    """
    image = _as_hwc(image_hw3, "image_hw3")
    validate_iuv(iuv_hw3, "iuv_hw3")
    if image.shape[:2] != iuv_hw3.shape[:2]:
        raise ValueError(
            f"image_hw3 {image.shape[:2]} and iuv_hw3 {iuv_hw3.shape[:2]} sizes differ"
        )
    n_rows, n_cols = atlas_shape(n)
    pixels, texels, _ = _body_texels(iuv_hw3, n)
    image_nc = np.ascontiguousarray(image).reshape(-1, image.shape[2])
    colours = _rows(image_nc)[pixels].view(image.dtype).reshape(-1, image.shape[2])
    counts = np.bincount(texels, minlength=n_rows * n_cols)
    sums_at = [np.bincount(texels, weights=c, minlength=len(counts))[texels] for c in colours.T]
    means = np.stack(sums_at, axis=-1) / counts[texels, None]  # per body pixel
    atlas = np.zeros((n_rows * n_cols, image.shape[2]), image.dtype)
    _rows(atlas)[texels] = _rows(_cast_like(means, image.dtype))  # equal means per texel
    visibility = np.zeros(n_rows * n_cols, bool)
    visibility[texels] = True
    atlas = atlas.reshape(n_rows, n_cols, image.shape[2])
    return (atlas if image_hw3.ndim == 3 else atlas[..., 0]), visibility.reshape(n_rows, n_cols)


def _bilinear_numpy(atlas_nc: np.ndarray, iuv_n3: np.ndarray, n: int) -> np.ndarray:
    """Bilinear samples (N, C) float64 of a flattened atlas (6n*4n, C) inside each part's tile."""
    row0, col0, _, _ = _luts(n)
    shift = bilinear_offset(n)
    x = np.clip(iuv_n3[:, 1] / 255.0 * (n - 1) - shift, 0, n - 1)
    y = np.clip((255 - iuv_n3[:, 2].astype(np.float64)) / 255.0 * (n - 1) - shift, 0, n - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    wx, wy = (x - x0)[:, None], (y - y0)[:, None]
    base = row0[iuv_n3[:, 0]] * (TILE_COLS * n) + col0[iuv_n3[:, 0]]
    rows = [(y0 * (TILE_COLS * n), 1 - wy), (np.minimum(y0 + 1, n - 1) * (TILE_COLS * n), wy)]
    cols = [(x0, 1 - wx), (np.minimum(x0 + 1, n - 1), wx)]
    return sum(
        atlas_nc[base + r + c].astype(np.float64) * (w_r * w_c)
        for r, w_r in rows
        for c, w_c in cols
    )


def gather(atlas_hwc: np.ndarray, iuv_hw3: np.ndarray, mode: str = "nearest") -> np.ndarray:
    """Render an image from an atlas through an IUV.

    ``atlas_hwc``: (6n, 4n, C) or (6n, 4n); ``mode``: "nearest" (texel_index) or "bilinear"
    (inside the part's tile). Returns (H, W, C) or (H, W) in the atlas dtype; background is 0.
    """
    if mode not in _MODES:
        raise ValueError(f"mode: expected one of {_MODES}, got {mode!r}")
    atlas = _as_hwc(atlas_hwc, "atlas_hwc")
    n = _n_from_atlas(atlas.shape[:2], "atlas_hwc")
    validate_iuv(iuv_hw3, "iuv_hw3")
    pixels, texels, iuv_n3 = _body_texels(iuv_hw3, n)
    atlas_nc = np.ascontiguousarray(atlas).reshape(-1, atlas.shape[2])
    out = np.zeros((iuv_hw3.shape[0] * iuv_hw3.shape[1], atlas.shape[2]), atlas.dtype)
    if mode == "nearest":
        _rows(out)[pixels] = np.take(_rows(atlas_nc), texels)
    else:
        out[pixels] = _cast_like(_bilinear_numpy(atlas_nc, iuv_n3, n), atlas.dtype)
    out = out.reshape(*iuv_hw3.shape[:2], atlas.shape[2])
    return out if atlas_hwc.ndim == 3 else out[..., 0]
