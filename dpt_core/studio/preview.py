"""Contact sheets: what the studio makes, one row per sample (RGB, IUV, mask, depth, atlas)."""

from __future__ import annotations

import colorsys

import numpy as np
import torch
from PIL import Image, ImageDraw

from dpt_core import storage
from dpt_core.iuv import N_PARTS
from dpt_core.studio.batch import StudioBatch
from dpt_core.studio.render import render_samples
from dpt_core.studio.stage import png_bytes

COLUMNS = ("rgb", "iuv", "mask", "depth", "atlas")
_LABEL_HEIGHT = 14


def part_palette() -> np.ndarray:
    """(25, 3) uint8: black for background, then 24 well-separated part colours."""
    hues = (np.arange(N_PARTS) * 7 % N_PARTS) / N_PARTS
    colours = [colorsys.hsv_to_rgb(h, 0.75, 0.95 - 0.3 * (i % 2)) for i, h in enumerate(hues)]
    return np.rint(np.vstack([[0.0, 0.0, 0.0], colours]) * 255).astype(np.uint8)


def iuv_to_rgb(iuv_3hw: torch.Tensor | np.ndarray) -> np.ndarray:
    """Visualise an IUV (3, H, W) as (H, W, 3) uint8: part colour, brighter with U, chart grid
    lines every 1/8 of U and V."""
    iuv = np.asarray(iuv_3hw).astype(np.int64)
    part, u, v = iuv[0], iuv[1] / 255.0, iuv[2] / 255.0
    rgb = part_palette()[part].astype(np.float64) * (0.55 + 0.45 * u)[..., None]
    lines = (np.mod(u * 8, 1) < 0.12) | (np.mod(v * 8, 1) < 0.12)
    rgb[lines & (part > 0)] *= 0.45
    return np.rint(rgb).astype(np.uint8)


def _depth_rgb(depth_hw: np.ndarray) -> np.ndarray:
    fg = depth_hw > 0
    out = np.zeros(depth_hw.shape, np.float64)
    if fg.any():
        lo, hi = depth_hw[fg].min(), depth_hw[fg].max()
        out[fg] = 255 - 200 * (depth_hw[fg] - lo) / max(hi - lo, 1e-6)  # near = bright
    return np.repeat(np.rint(out).astype(np.uint8)[..., None], 3, axis=2)


def _thumbnail(atlas_3hw: torch.Tensor, height: int) -> np.ndarray:
    img = Image.fromarray(atlas_3hw.permute(1, 2, 0).numpy())
    return np.asarray(img.resize((max(1, height * 4 // 6), height), Image.Resampling.BILINEAR))


def contact_sheet(batch: StudioBatch, max_rows: int = 8) -> np.ndarray:
    """(H, W, 3) uint8 sheet: a label strip, then one row per sample (at most ``max_rows``)."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    h = batch.rgb.shape[2]
    rows = []
    for b in range(min(len(batch), max_rows)):
        cells = [
            batch.rgb[b].permute(1, 2, 0).numpy(),
            iuv_to_rgb(batch.iuv[b]),
            np.repeat(batch.mask[b, 0].numpy()[..., None].astype(np.uint8) * 255, 3, axis=2),
            _depth_rgb(batch.depth[b, 0].numpy()),
            _thumbnail(batch.atlases[batch.atlas_index[b]], h),
        ]
        rows.append(np.concatenate(cells, axis=1))
    sheet = np.concatenate(rows, axis=0)
    label = Image.new("RGB", (sheet.shape[1], _LABEL_HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(label)
    for i, name in enumerate(COLUMNS):
        draw.text((i * batch.rgb.shape[3] + 3, 1), name, fill=(0, 0, 0))
    return np.concatenate([np.asarray(label), sheet], axis=0)


def write_preview(
    out_url: str,
    identities: int = 3,
    poses: int = 2,
    views: int = 2,
    size: int = 128,
    seed: int = 0,
) -> str:
    """Render a small grid of samples and write its contact sheet PNG to ``out_url``."""
    batch = render_samples(identities, poses, views, size, seed)
    storage.write_bytes(out_url, png_bytes(contact_sheet(batch, max_rows=len(batch))))
    return out_url
