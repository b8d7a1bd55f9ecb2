"""DensePose's 24-tile texture atlas: scatter an image into it, gather an image out of it.

Layout (the texture-transfer notebook's): ``6n`` rows × ``4n`` columns of ``n × n`` tiles; part
``p`` (1..24) sits in tile row ``(p-1) % 6``, tile column ``(p-1) // 6``. An IUV value
(U·255, V·255) maps to the tile texel row ``floor((255 - V)·(n - 1)/255)``, column
``floor(U·(n - 1)/255)`` (exact integer lookup tables; the notebook's float expression truncates
to the same integers), so atlases made for the notebook render identically. Bilinear sampling
reads x = U/255·(n-1), y = (1-V/255)·(n-1) inside the part's own tile only.

numpy versions take one ``(H, W, C)`` image; ``*_torch`` versions ``(B, C, H, W)`` batches on any
device. Only body pixels are processed; no Python loop over parts, pixels or batch items.

Modules: ``layout`` (tile geometry, lookup tables), ``arrays`` (numpy), ``tensors`` (torch).
"""

from dpt_core.atlas.arrays import gather, scatter
from dpt_core.atlas.layout import (
    DEFAULT_N,
    TILE_COLS,
    TILE_ROWS,
    atlas_shape,
    bilinear_offset,
    texel_index,
    tile_origin,
)
from dpt_core.atlas.tensors import gather_torch, scatter_torch

__all__ = [
    "DEFAULT_N",
    "TILE_COLS",
    "TILE_ROWS",
    "atlas_shape",
    "bilinear_offset",
    "gather",
    "gather_torch",
    "scatter",
    "scatter_torch",
    "texel_index",
    "tile_origin",
]
