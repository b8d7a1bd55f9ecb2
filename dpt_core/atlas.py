"""DensePose's 24-tile texture atlas: scatter an image into it, gather an image out of it.

Layout (the texture-transfer notebook's): ``6n`` rows × ``4n`` columns of ``n × n`` tiles; part
``p`` (1..24) sits in tile row ``(p-1) % 6``, tile column ``(p-1) // 6``. An IUV value
(U·255, V·255) maps to the tile texel row ``floor((255 - V)·(n - 1)/255)``, column
``floor(U·(n - 1)/255)`` (exact integer lookup tables; the notebook's float expression truncates
to the same integers), so atlases made for the notebook render identically. Bilinear sampling
reads x = U/255·(n-1), y = (1-V/255)·(n-1) inside the part's own tile only.

numpy versions take one ``(H, W, C)`` image; ``*_torch`` versions ``(B, C, H, W)`` batches on any
device. Only body pixels are processed; no Python loop over parts, pixels or batch items.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from dpt_core.iuv import N_PARTS, validate_iuv

DEFAULT_N = 200
TILE_ROWS = 6
TILE_COLS = 4
_MODES = ("nearest", "bilinear")


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n: expected a positive integer tile size, got {n!r}")
    return int(n)


def atlas_shape(n: int) -> tuple[int, int]:
    """(rows, cols) = (6n, 4n) of an atlas with ``n × n`` tiles."""
    n = _check_n(n)
    return TILE_ROWS * n, TILE_COLS * n


def tile_origin(part: int, n: int) -> tuple[int, int]:
    """(row0, col0) of part ``part``'s tile (1..24) in an atlas with ``n × n`` tiles."""
    n = _check_n(n)
    if isinstance(part, bool) or not isinstance(part, int | np.integer) or not 1 <= part <= N_PARTS:
        raise ValueError(f"part: expected a part id in 1..{N_PARTS}, got {part!r}")
    return ((part - 1) % TILE_ROWS) * n, ((part - 1) // TILE_ROWS) * n


def _n_from_atlas(shape: tuple[int, ...], name: str) -> int:
    rows, cols = shape
    n = rows // TILE_ROWS
    if n < 1 or rows != TILE_ROWS * n or cols != TILE_COLS * n:
        raise ValueError(f"{name}: atlas must be (6n, 4n) texels, got ({rows}, {cols})")
    return n


# ----------------------------------------------------------------------------------- numpy


@functools.lru_cache(maxsize=16)
def _luts(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Texel lookup tables: tile (row0, col0) by part id (25,), texel row by V, col by U (256,)."""
    tile = np.maximum(np.arange(N_PARTS + 1), 1) - 1  # part 0 (background) borrows tile 0
    levels = np.arange(256)
    tables = (
        (tile % TILE_ROWS) * n,
        (tile // TILE_ROWS) * n,
        ((255 - levels) * (n - 1)) // 255,
        (levels * (n - 1)) // 255,
    )
    for table in tables:
        table.setflags(write=False)
    return tables


def _flat_luts(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat texel index row * 4n + col as a sum of three lookups: by part, by V, by U."""
    row0, col0, row_by_v, col_by_u = _luts(n)
    return row0 * (TILE_COLS * n) + col0, row_by_v * (TILE_COLS * n), col_by_u


def texel_index(iuv_hw3: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest atlas texel of every pixel: (rows, cols), each (H, W) int64; -1 on background."""
    validate_iuv(iuv_hw3, "iuv_hw3")
    row0, col0, row_by_v, col_by_u = _luts(_check_n(n))
    part, u, v = iuv_hw3[..., 0], iuv_hw3[..., 1], iuv_hw3[..., 2]
    fg = part > 0
    return np.where(fg, row0[part] + row_by_v[v], -1), np.where(fg, col0[part] + col_by_u[u], -1)


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


def bilinear_offset(n: int) -> float:
    """Texel-space shift that makes bilinear sampling agree with floor-indexed scatter.

    ``scatter`` puts the 8-bit coordinate x = U/255·(n-1) into texel floor(x), so for n - 1 < 255
    a texel holds the mean of points spread over [r, r + 1) in steps of (n-1)/255, centred at
    r + 0.5 - (n-1)/510. Bilinear sampling treats texel r as sitting at r, so it samples at
    x - shift with shift = 0.5 - (n-1)/510 (0 once every 8-bit value has a texel of its own).
    """
    return max(0.0, 0.5 - (n - 1) / 510.0)


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


# ----------------------------------------------------------------------------------- torch


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
