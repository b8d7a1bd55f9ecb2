"""torch scatter and gather of ``(B, C, H, W)`` batches on any device."""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from dpt_core.atlas.layout import (
    _MODES,
    DEFAULT_N,
    TILE_COLS,
    TILE_ROWS,
    _check_n,
    _flat_luts,
    _n_from_atlas,
    atlas_shape,
    bilinear_offset,
)
from dpt_core.iuv import N_PARTS


def _check_torch(
    data: torch.Tensor, iuv_b3hw: torch.Tensor, name: str, batch_of_one: bool = False
) -> None:
    """ValueError unless ``data`` is 4-D on iuv's device, with its batch, and iuv is in range."""
    if not isinstance(iuv_b3hw, torch.Tensor) or iuv_b3hw.ndim != 4 or iuv_b3hw.shape[1] != 3:
        raise ValueError(f"iuv_b3hw: expected a (B, 3, H, W) tensor, got {_shape(iuv_b3hw)}")
    if not isinstance(data, torch.Tensor) or data.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D tensor, got {_shape(data)}")
    if data.shape[0] != iuv_b3hw.shape[0] and not (batch_of_one and data.shape[0] == 1):
        raise ValueError(f"{name}: batch {data.shape[0]} differs from iuv_b3hw's {len(iuv_b3hw)}")
    if data.device != iuv_b3hw.device:
        raise ValueError(f"{name} is on {data.device} but iuv_b3hw on {iuv_b3hw.device}")
    if iuv_b3hw.dtype == torch.bool or iuv_b3hw.is_complex():
        raise ValueError(f"iuv_b3hw: expected an integer or float dtype, got {iuv_b3hw.dtype}")
    if iuv_b3hw.numel():
        extremes = torch.cat([iuv_b3hw.detach().amin((0, 2, 3)), iuv_b3hw.detach().amax((0, 2, 3))])
        lo, hi = extremes.view(2, 3).tolist()  # one device sync
        if min(lo) < 0 or hi[0] > N_PARTS or max(hi[1:]) > 255:
            raise ValueError(
                f"iuv_b3hw: values out of range (I 0..{N_PARTS}, U·255 and V·255 0..255): "
                f"per-channel min {lo}, max {hi}"
            )


def _shape(value: object) -> object:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


@functools.lru_cache(maxsize=16)
def _torch_luts(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """int64 tables on ``device``: flat tile origin by part id (25,), texel offset by V*256+U."""
    by_part, by_v, by_u = _flat_luts(n)
    by_vu = (by_v[:, None] + by_u[None, :]).ravel()
    return torch.from_numpy(by_part.copy()).to(device), torch.from_numpy(by_vu).to(device)


def _body_texels_torch(iuv_b3hw: torch.Tensor, n: int) -> tuple[torch.Tensor, ...]:
    """Body pixels only: (batch item (N,), pixel y*W+x (N,), flat texel row*4n+col (N,)) int64."""
    b, hw = iuv_b3hw.shape[0], iuv_b3hw.shape[2] * iuv_b3hw.shape[3]
    iuv = iuv_b3hw.round() if iuv_b3hw.is_floating_point() else iuv_b3hw
    item, pixel = torch.nonzero(iuv[:, 0].reshape(b, hw)).unbind(1)
    at_part = item * (3 * hw) + pixel  # where each body pixel's I sits in the (B, 3, H, W) tensor
    flat = iuv.reshape(-1)
    part, u, v = (flat.index_select(0, at_part + k * hw).long() for k in range(3))
    by_part, by_vu = _torch_luts(n, flat.device)
    return item, pixel, by_part.index_select(0, part) + by_vu.index_select(0, v * 256 + u)


def _zeros(numel: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """torch.zeros; on CPU backed by numpy's calloc: pages a sparse scatter skips stay unwritten."""
    if device.type != "cpu" or dtype not in (torch.float32, torch.float64):
        return torch.zeros(numel, dtype=dtype, device=device)
    return torch.from_numpy(np.zeros(numel, np.float32 if dtype == torch.float32 else np.float64))


def scatter_torch(
    images_bchw: torch.Tensor, iuv_b3hw: torch.Tensor, n: int = DEFAULT_N
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched ``scatter``: (atlas (B, C, 6n, 4n) float, visibility (B, 1, 6n, 4n) float 0/1).

    The atlas holds the (unrounded) mean colour of the pixels landing on each texel, float32
    unless the images are a wider float. Not differentiable: the images are detached. Sums use
    ``index_add_``: on CUDA, colours that are not integer-valued may differ in the last bit.
    """
    n = _check_n(n)
    _check_torch(images_bchw, iuv_b3hw, "images_bchw")
    if images_bchw.shape[2:] != iuv_b3hw.shape[2:]:
        raise ValueError(f"images_bchw {_shape(images_bchw)} and iuv_b3hw sizes differ")
    b, c, h, w = images_bchw.shape
    item, pixel, texel = _body_texels_torch(iuv_b3hw, n)
    n_texels, device = TILE_ROWS * TILE_COLS * n * n, texel.device
    dtype = images_bchw.dtype if images_bchw.is_floating_point() else torch.float32
    planes = torch.arange(c, device=device)[:, None]
    source = ((item * (c * h * w) + pixel) + planes * (h * w)).flatten()  # (C, N) into images
    target = ((item * (c * n_texels) + texel) + planes * n_texels).flatten()  # (C, N) into atlas
    slot = item * n_texels + texel
    counts = _zeros(b * n_texels, dtype, device)
    counts.index_add_(0, slot, torch.ones((), dtype=dtype, device=device).expand(len(slot)))
    sums = _zeros(b * c * n_texels, dtype, device)
    colours = images_bchw.detach().reshape(-1).index_select(0, source).to(dtype)
    sums.index_add_(0, target, colours)
    means = sums.index_select(0, target).view(c, -1) / counts.index_select(0, slot)
    sums.index_copy_(0, target, means.flatten())  # duplicates carry identical means
    counts.index_fill_(0, slot, 1)
    rows, cols = atlas_shape(n)
    return sums.view(b, c, rows, cols), counts.view(b, 1, rows, cols)


def _pad_tiles(atlas_bchw: torch.Tensor, n: int) -> torch.Tensor:
    """Give every tile a 1-texel border replicating its own edge: (B, C, 6(n+2), 4(n+2))."""
    b, c = atlas_bchw.shape[:2]
    tiles = atlas_bchw.reshape(b, c, TILE_ROWS, n, TILE_COLS, n).permute(0, 1, 2, 4, 3, 5)
    padded = F.pad(tiles.reshape(b, c * N_PARTS, n, n), (1, 1, 1, 1), mode="replicate")
    m = n + 2
    padded = padded.view(b, c, TILE_ROWS, TILE_COLS, m, m).permute(0, 1, 2, 4, 3, 5)
    return padded.reshape(b, c, TILE_ROWS * m, TILE_COLS * m)


def _bilinear_torch(atlas_bchw: torch.Tensor, iuv_b3hw: torch.Tensor, n: int) -> torch.Tensor:
    """grid_sample of the tile-padded atlas at x = U/255·(n-1) - s, y = (1-V/255)·(n-1) - s."""
    dtype = atlas_bchw.dtype if atlas_bchw.is_floating_point() else torch.float32
    padded = _pad_tiles(atlas_bchw.to(dtype), n)
    iuv = iuv_b3hw.to(dtype)
    tile = iuv[:, 0].round().long().clamp(min=1) - 1
    shift = bilinear_offset(n)
    x = (iuv[:, 1] / 255.0 * (n - 1) - shift).clamp(0, n - 1)
    y = ((255.0 - iuv[:, 2]) / 255.0 * (n - 1) - shift).clamp(0, n - 1)
    m = n + 2
    col = (tile // TILE_ROWS) * m + 1 + x  # +1 skips the tile's replicated border
    row = (tile % TILE_ROWS) * m + 1 + y
    grid = torch.stack((col / (TILE_COLS * m - 1), row / (TILE_ROWS * m - 1)), dim=-1) * 2 - 1
    padded = padded.expand(grid.shape[0], -1, -1, -1)
    return F.grid_sample(padded, grid, mode="bilinear", padding_mode="border", align_corners=True)


def gather_torch(
    atlas_bchw: torch.Tensor, iuv_b3hw: torch.Tensor, mode: str = "nearest"
) -> torch.Tensor:
    """Batched ``gather``: (B, C, H, W) rendered from atlases (B or 1, C, 6n, 4n); background 0.

    "nearest" returns the atlas dtype (IUV values are rounded to integers first); "bilinear"
    returns float and is differentiable with respect to the atlas (grid_sample on tiles padded
    with their own edges, so a part never samples its neighbours).
    """
    if mode not in _MODES:
        raise ValueError(f"mode: expected one of {_MODES}, got {mode!r}")
    _check_torch(atlas_bchw, iuv_b3hw, "atlas_bchw", batch_of_one=True)
    n = _n_from_atlas(tuple(atlas_bchw.shape[2:]), "atlas_bchw")
    b, c, h, w = iuv_b3hw.shape[0], atlas_bchw.shape[1], *iuv_b3hw.shape[2:]
    item, pixel, texel = _body_texels_torch(iuv_b3hw, n)
    planes = torch.arange(c, device=texel.device)[:, None]
    target = ((item * (c * h * w) + pixel) + planes * (h * w)).flatten()  # (C, N) into output
    if mode == "bilinear":
        values = _bilinear_torch(atlas_bchw, iuv_b3hw, n).reshape(-1).index_select(0, target)
    else:
        n_texels = TILE_ROWS * TILE_COLS * n * n
        first = item * (c * n_texels) if atlas_bchw.shape[0] == b else 0
        values = atlas_bchw.reshape(-1).index_select(
            0, (first + texel + planes * n_texels).flatten()
        )
    out = torch.zeros(b * c * h * w, dtype=values.dtype, device=values.device)
    return out.index_copy_(0, target, values).view(b, c, h, w)
