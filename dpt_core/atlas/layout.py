"""The atlas layout: tile geometry, IUV -> texel lookup tables and texel indexes."""

from __future__ import annotations

import functools

import numpy as np

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


def bilinear_offset(n: int) -> float:
    """Texel-space shift that makes bilinear sampling agree with floor-indexed scatter.

    ``scatter`` puts the 8-bit coordinate x = U/255·(n-1) into texel floor(x), so for n - 1 < 255
    a texel holds the mean of points spread over [r, r + 1) in steps of (n-1)/255, centred at
    r + 0.5 - (n-1)/510. Bilinear sampling treats texel r as sitting at r, so it samples at
    x - shift with shift = 0.5 - (n-1)/510 (0 once every 8-bit value has a texel of its own).
    """
    return max(0.0, 0.5 - (n - 1) / 510.0)
