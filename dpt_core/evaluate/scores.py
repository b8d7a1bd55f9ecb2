"""What a score is: metric columns, per-region and per-part L1, atlases to score textures against,
and the image conversions the scorer shares."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from dpt_core import storage
from dpt_core.atlas import atlas_shape, tile_origin
from dpt_core.data.manifest import read_dataset_manifest
from dpt_core.iuv import N_PARTS
from dpt_core.metrics import (
    IMAGE_COLUMNS,
    MetricWeights,
    l1,
    ssim,
)

IMAGE_BRANCHES = {"predictive": "pred.png", "warped": "warp.png", "blended": "png"}


TEXTURE_BRANCHES = (
    "texture",
    "texture_mean_fill",
    "texture_nearest_fill",
    "texture_mirror_fill",
    "texture_pushpull_fill",
    "texture_strip_fill",
)


"""The completed atlas, then the baselines (metrics.texture); in texture rows the per-part
columns ``l1_pNN`` hold that part's texture error on unseen texels."""


REGION_COLUMNS = ("l1_body", "ssim_body", "l1_outside", "ssim_outside")


PART_COLUMNS = tuple(f"l1_p{p:02d}" for p in range(1, N_PARTS + 1))


METRIC_COLUMNS = (*IMAGE_COLUMNS, *REGION_COLUMNS, "texture_error", *PART_COLUMNS)


ID_COLUMNS = ("key", "branch", "source_key", "target_key", "person_id")


@dataclass(frozen=True)
class EvalOptions:
    """``atlases_url``: folder of full atlases ``PERSON.png`` (None: the studio's, found through
    the data set manifest); ``weights``: LPIPS weights; ``grid``: samples shown in the report."""

    atlases_url: str | None = None
    weights: MetricWeights | None = None
    grid: int = 8
    batch_size: int = 16


@dataclass(frozen=True)
class EvalResult:
    """Where the eval wrote its files, and the summary rows (one per branch)."""

    render_url: str
    metrics_url: str
    summary_url: str
    report_url: str
    summary: list[dict]
    images: int
    sheet_url: str | None = None  # eval/contact_sheet.png, when any sample was rendered


def part_l1(
    pred_bchw: torch.Tensor, target_bchw: torch.Tensor, iuv_b3hw: torch.Tensor
) -> torch.Tensor:
    """(B, 24) mean absolute error per body part (channels averaged); NaN where a part is absent.

    Images float in [0, 1]; ``iuv_b3hw`` holds (I, U·255, V·255).
    """
    error_bn = (pred_bchw - target_bchw).abs().mean(1).flatten(1).double()
    parts_bn = iuv_b3hw[:, 0].flatten(1).long()
    sums = torch.zeros(len(error_bn), N_PARTS + 1, dtype=torch.float64).scatter_add_(
        1, parts_bn, error_bn
    )
    counts = torch.zeros_like(sums).scatter_add_(1, parts_bn, torch.ones_like(error_bn))
    return torch.where(counts > 0, sums / counts.clamp_min(1), torch.nan)[:, 1:]


def region_metrics(
    pred_bchw: torch.Tensor,
    target_bchw: torch.Tensor,
    iuv_b3hw: torch.Tensor,
    mask_b1hw: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """L1 and mask-SSIM inside the body (I > 0) and outside it on the person mask (hair, loose
    clothing), each (B,), NaN where a region is empty. Images float (B, 3, H, W) in [0, 1]."""
    body = iuv_b3hw[:, :1] > 0
    regions = {"body": body, "outside": (mask_b1hw > 0.5) & ~body}
    out = {}
    for name, region in regions.items():
        out[f"l1_{name}"] = l1(pred_bchw, target_bchw, region)
        out[f"ssim_{name}"] = ssim(pred_bchw, target_bchw, region)
    return out


def resample_atlas(atlas_rgb: np.ndarray, n: int) -> np.ndarray:
    """A (6N, 4N, 3) atlas at tile size ``n``: each tile box-filtered over one output texel and
    sampled at the texel positions ``x = U·(n-1)`` of DESIGN.md. Returns (6n, 4n, 3) uint8."""
    big = atlas_rgb.shape[0] // 6
    if atlas_rgb.ndim != 3 or atlas_rgb.shape[:2] != atlas_shape(max(big, 1)):
        raise ValueError(f"atlas_rgb: expected a (6N, 4N, 3) atlas, got {atlas_rgb.shape}")
    idx = np.rint(np.arange(n) * (big - 1) / max(n - 1, 1)).astype(np.int64)
    k = max(1, round(big / n))
    out = np.zeros((*atlas_shape(n), 3), np.uint8)
    for part in range(1, N_PARTS + 1):
        (r0, c0), (s0, t0) = tile_origin(part, big), tile_origin(part, n)
        tile = cv2.blur(atlas_rgb[r0 : r0 + big, c0 : c0 + big], (k, k))
        out[s0 : s0 + n, t0 : t0 + n] = tile[np.ix_(idx, idx)]
    return out


class _Atlases:
    """Ground-truth atlases per person at tile size n, read once each: (RGB, scored texels or
    None for all) or None when missing. An RGBA PNG (``studio.observed``) scores only the texels
    its alpha marks as observed, and must already be at tile size n."""

    def __init__(self, folder: str | None, n: int) -> None:
        self.folder, self.n, self.cache = folder, n, {}

    def get(self, person_id: str) -> tuple[np.ndarray, np.ndarray | None] | None:
        if self.folder is None or not person_id:
            return None
        if person_id not in self.cache:
            url = storage.join(self.folder, f"{person_id}.png")
            self.cache[person_id] = self._read(url) if storage.exists(url) else None
        return self.cache[person_id]

    def _read(self, url: str) -> tuple[np.ndarray, np.ndarray | None]:
        raw = cv2.imdecode(np.frombuffer(storage.read_bytes(url), np.uint8), cv2.IMREAD_UNCHANGED)
        if raw is None or raw.ndim != 3:
            raise ValueError(f"{url}: not a colour PNG atlas")
        rgb = np.ascontiguousarray(raw[..., 2::-1])
        if raw.shape[2] == 3:
            return resample_atlas(rgb, self.n), None
        if raw.shape[:2] != atlas_shape(self.n):
            raise ValueError(f"{url}: an observed (RGBA) atlas must have n={self.n} tiles")
        return rgb, raw[..., 3] > 0


def studio_atlases_url(root_url: str, dataset: str) -> str | None:
    """``OUT/atlases`` of the studio folder a data set was sharded from, if it exists."""
    table = read_dataset_manifest(root_url, dataset, ["source"]).slice(0, 1)
    source = table.column("source")[0].as_py() if table.num_rows else None
    if not source or "/images/" not in source:
        return None
    url = source.rsplit("/images/", 1)[0] + "/atlases"
    return url if storage.exists(url) else None


def _to_u8(images: torch.Tensor) -> torch.Tensor:
    """Decoded images (uint8 / 127.5 - 1) back to their exact uint8 values."""
    return ((images.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


def _to_unit(images_bchw: torch.Tensor) -> torch.Tensor:
    return _to_u8(images_bchw).float() / 255.0


def _to_u8_hw3(image_3hw: torch.Tensor) -> np.ndarray:
    return _to_u8(image_3hw).permute(1, 2, 0).numpy()


def decode_png(data: bytes) -> np.ndarray:
    """A render shard's PNG member as (H, W, 3) uint8 RGB; ValueError when it is corrupt."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("corrupt PNG member in the render shard")
    return np.ascontiguousarray(bgr[..., ::-1])


def _cell(value: object) -> float | None:
    if isinstance(value, str) or value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value
