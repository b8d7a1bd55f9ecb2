"""Per-image metrics: SSIM, MS-SSIM, PSNR, L1 — on the whole image and inside the person mask.

Inputs are uint8 ``(H, W, 3)`` / ``(B, H, W, 3)`` numpy arrays (or uint8 tensors) or float
``(B, 3, H, W)`` / ``(3, H, W)`` tensors (or float numpy ``(…, H, W, 3)``) with values in [0, 1];
every function works on a whole batch at once and returns a ``(B,)`` float tensor.

SSIM is Wang et al. (2004) — Gaussian window 11, σ = 1.5, K1 = 0.01, K2 = 0.03 — and MS-SSIM
Wang et al. (2003) with 5 scales; see ``dpt_core.metrics.structural`` for the exact definitions.

Masked variants: SSIM/MS-SSIM are computed on both images multiplied by the mask (the
"mask-SSIM" of Ma et al. 2017, used by Dense Pose Transfer); PSNR and L1 average only over mask
pixels (NaN where a mask is empty).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from dpt_core.metrics.structural import MS_SSIM_MIN_SIDE, SSIM_WINDOW, ms_ssim_bchw, ssim_bchw

ImageLike = np.ndarray | torch.Tensor
MaskLike = np.ndarray | torch.Tensor | None


def _check_range(images: torch.Tensor, name: str) -> None:
    if images.numel() == 0:
        raise ValueError(f"{name}: empty image")
    lo, hi = float(images.min()), float(images.max())
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name}: float images must lie in [0, 1], got range [{lo}, {hi}]")


def as_images_bchw(images: ImageLike, name: str = "images") -> torch.Tensor:
    """Any accepted image layout → float32 ``(B, 3, H, W)`` tensor in [0, 1] (same device)."""
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4) or images.shape[-1] != 3:
            raise ValueError(
                f"{name}: numpy images must be (H, W, 3) or (B, H, W, 3), got {images.shape}"
            )
        tensor = torch.from_numpy(np.ascontiguousarray(images)).movedim(-1, -3)
    elif isinstance(images, torch.Tensor):
        if images.ndim not in (3, 4) or images.shape[-3] != 3:
            raise ValueError(
                f"{name}: tensors must be (3, H, W) or (B, 3, H, W), got {tuple(images.shape)}"
            )
        tensor = images
    else:
        raise ValueError(f"{name}: expected a numpy array or torch tensor, got {type(images)}")
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.dtype == torch.uint8:
        return tensor.float() / 255.0
    if not tensor.is_floating_point():
        raise ValueError(f"{name}: expected uint8 or float images, got {tensor.dtype}")
    _check_range(tensor, name)
    return tensor.float()


def as_mask_b1hw(
    mask: ImageLike, batch: int, height: int, width: int, name: str = "mask"
) -> torch.Tensor:
    """Person mask ``(H, W)``, ``(B, H, W)`` or ``(B, 1, H, W)`` → float32 0/1 ``(B, 1, H, W)``.

    bool masks are taken as they are, integer masks (0/255 or 0/1) as ``> 0``, float masks as
    ``>= 0.5``. A single ``(H, W)`` mask applies to every image of the batch.
    """
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(np.ascontiguousarray(mask))
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"{name}: expected a numpy array or torch tensor, got {type(mask)}")
    if mask.ndim == 4 and mask.shape[1] == 1:
        mask = mask[:, 0]
    if mask.ndim == 2:
        mask = mask.unsqueeze(0).expand(batch, -1, -1)
    if mask.ndim != 3 or tuple(mask.shape) != (batch, height, width):
        raise ValueError(
            f"{name}: expected a ({height}, {width}) or ({batch}, {height}, {width}) "
            f"mask, got {tuple(mask.shape)}"
        )
    if mask.dtype == torch.bool:
        binary = mask
    elif mask.is_floating_point():
        binary = mask >= 0.5
    else:
        binary = mask > 0
    return binary.unsqueeze(1).float()


def as_image_pair(pred: ImageLike, target: ImageLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Both as float ``(B, 3, H, W)`` on pred's device; ValueError if their shapes differ."""
    pred_bchw = as_images_bchw(pred, "pred")
    target_bchw = as_images_bchw(target, "target").to(pred_bchw.device)
    if pred_bchw.shape != target_bchw.shape:
        raise ValueError(
            f"pred and target differ in shape: {tuple(pred_bchw.shape)} vs "
            f"{tuple(target_bchw.shape)}"
        )
    return pred_bchw, target_bchw


def _prepare(
    pred: ImageLike, target: ImageLike, mask: MaskLike
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    pred_bchw, target_bchw = as_image_pair(pred, target)
    if mask is None:
        return pred_bchw, target_bchw, None
    b, _, h, w = pred_bchw.shape
    mask_b1hw = as_mask_b1hw(mask, b, h, w).to(pred_bchw.device)
    return pred_bchw, target_bchw, mask_b1hw


def _structural(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    min_side: int,
    pred: ImageLike,
    target: ImageLike,
    mask: MaskLike,
) -> torch.Tensor:
    """Run an SSIM kernel per image, on mask-multiplied images when masked."""
    pred_bchw, target_bchw, mask_b1hw = _prepare(pred, target, mask)
    if min(pred_bchw.shape[-2:]) < min_side:
        raise ValueError(
            f"pred: {'MS-SSIM' if min_side > SSIM_WINDOW else 'SSIM'} needs images of at least "
            f"{min_side} px per side, got {tuple(pred_bchw.shape[-2:])}"
        )
    if mask_b1hw is None:
        return fn(pred_bchw, target_bchw)
    values = fn(pred_bchw * mask_b1hw, target_bchw * mask_b1hw)
    return torch.where(mask_b1hw.flatten(1).any(1), values, torch.nan)


def ssim(pred: ImageLike, target: ImageLike, mask: MaskLike = None) -> torch.Tensor:
    """SSIM per image, ``(B,)`` in [-1, 1]; with ``mask``, of both images times the mask.

    Images need at least 11 px per side; NaN for an image whose mask is empty.
    """
    return _structural(ssim_bchw, SSIM_WINDOW, pred, target, mask)


def ms_ssim(pred: ImageLike, target: ImageLike, mask: MaskLike = None) -> torch.Tensor:
    """MS-SSIM per image, ``(B,)`` in [0, 1]; with ``mask``, of both images times the mask.

    Images need at least 161 px per side (5 scales, window 11); NaN where a mask is empty.
    """
    return _structural(ms_ssim_bchw, MS_SSIM_MIN_SIDE, pred, target, mask)


def _masked_mean(values_bchw: torch.Tensor, mask_b1hw: torch.Tensor | None) -> torch.Tensor:
    if mask_b1hw is None:
        return values_bchw.flatten(1).mean(1)
    weight = mask_b1hw.expand_as(values_bchw)
    total = (values_bchw * weight).flatten(1).sum(1)
    count = weight.flatten(1).sum(1)
    return torch.where(count > 0, total / count.clamp_min(1.0), torch.nan)


def mse(pred: ImageLike, target: ImageLike, mask: MaskLike = None) -> torch.Tensor:
    """Mean squared error per image over all (or mask) pixels and channels, ``(B,)``."""
    pred_bchw, target_bchw, mask_b1hw = _prepare(pred, target, mask)
    return _masked_mean((pred_bchw - target_bchw).square(), mask_b1hw)


def psnr(pred: ImageLike, target: ImageLike, mask: MaskLike = None) -> torch.Tensor:
    """PSNR per image in dB with data range 1, ``(B,)``; ``inf`` for identical images."""
    return 10.0 * torch.log10(1.0 / mse(pred, target, mask))


def l1(pred: ImageLike, target: ImageLike, mask: MaskLike = None) -> torch.Tensor:
    """Mean absolute error per image over all (or mask) pixels and channels, ``(B,)`` in [0, 1]."""
    pred_bchw, target_bchw, mask_b1hw = _prepare(pred, target, mask)
    return _masked_mean((pred_bchw - target_bchw).abs(), mask_b1hw)


def apply_mask(images: ImageLike, mask: ImageLike) -> torch.Tensor:
    """Images times the person mask, float ``(B, 3, H, W)`` (for mask-IS and the like)."""
    images_bchw = as_images_bchw(images, "images")
    b, _, h, w = images_bchw.shape
    return images_bchw * as_mask_b1hw(mask, b, h, w).to(images_bchw.device)
