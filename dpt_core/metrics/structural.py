"""SSIM and MS-SSIM kernels on float ``(B, C, H, W)`` batches with data range 1.

SSIM (Wang, Bovik, Sheikh, Simoncelli 2004): Gaussian window 11×11, σ = 1.5, C1 = (0.01)²,
C2 = (0.03)², population (not sample) statistics, "valid" filtering (only windows fully inside
the image), map averaged per channel, then over channels — skimage's ``structural_similarity``
with ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1``.

MS-SSIM (Wang, Simoncelli, Bovik 2003): 5 scales with weights (0.0448, 0.2856, 0.3001, 0.2363,
0.1333); contrast-structure at scales 1–4, full SSIM at scale 5, each clamped at 0; product per
channel, mean over channels. Between scales a 2×2 average pool; an odd side is first padded by
repeating its last row/column (as ``tf.image.ssim_multiscale``). Needs ≥ 161 px per side.

The five local statistics are filtered in one pass as a stacked tensor with shifted
multiply-adds (11 taps per axis): on CPU this is 3–4× faster than grouped convolutions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K = (0.01, 0.03)
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_MIN_SIDE = (SSIM_WINDOW - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1) + 1  # 161 px


def gaussian_taps(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> list[float]:
    """Normalised 1-D Gaussian window of ``size`` taps centred on the middle one."""
    raw = [math.exp(-((k - size // 2) ** 2) / (2 * sigma**2)) for k in range(size)]
    return [w / sum(raw) for w in raw]


def _filter_axis(maps: torch.Tensor, taps: list[float], dim: int) -> torch.Tensor:
    n = maps.shape[dim] - len(taps) + 1
    out = maps.narrow(dim, 0, n) * taps[0]
    for k, weight in enumerate(taps[1:], start=1):
        out.add_(maps.narrow(dim, k, n), alpha=weight)
    return out


def gaussian_filter_valid(maps: torch.Tensor) -> torch.Tensor:
    """Separable 11×11 Gaussian (σ 1.5) over the last two axes, valid region only."""
    taps = gaussian_taps()
    return _filter_axis(_filter_axis(maps, taps, -1), taps, -2)


def ssim_and_cs(x_bchw: torch.Tensor, y_bchw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(SSIM, contrast-structure) per image and channel, each ``(B, C)``; inputs in [0, 1]."""
    c1, c2 = SSIM_K[0] ** 2, SSIM_K[1] ** 2
    channels = x_bchw.shape[1]
    stats = torch.cat([x_bchw, y_bchw, x_bchw * x_bchw, y_bchw * y_bchw, x_bchw * y_bchw], 1)
    mu_x, mu_y, xx, yy, xy = gaussian_filter_valid(stats).split(channels, 1)
    var_x, var_y, cov_xy = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
    cs_map = (2 * cov_xy + c2) / (var_x + var_y + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def ssim_bchw(x_bchw: torch.Tensor, y_bchw: torch.Tensor) -> torch.Tensor:
    """SSIM per image, ``(B,)``; sides must be ≥ 11 px (checked by the caller)."""
    return ssim_and_cs(x_bchw, y_bchw)[0].mean(1)


def _halve(images_bchw: torch.Tensor) -> torch.Tensor:
    height, width = images_bchw.shape[-2:]
    if height % 2 or width % 2:
        images_bchw = F.pad(images_bchw, (0, width % 2, 0, height % 2), mode="replicate")
    return F.avg_pool2d(images_bchw, 2)


def ms_ssim_bchw(x_bchw: torch.Tensor, y_bchw: torch.Tensor) -> torch.Tensor:
    """MS-SSIM per image, ``(B,)``; sides must be ≥ 161 px (checked by the caller)."""
    factors = []
    for scale, weight in enumerate(MS_SSIM_WEIGHTS):
        ssim_bc, cs_bc = ssim_and_cs(x_bchw, y_bchw)
        last = scale == len(MS_SSIM_WEIGHTS) - 1
        factors.append((ssim_bc if last else cs_bc).clamp_min(0) ** weight)
        if not last:
            x_bchw, y_bchw = _halve(x_bchw), _halve(y_bchw)
    return torch.stack(factors).prod(0).mean(1)
