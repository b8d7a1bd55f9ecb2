"""Every per-image metric at once, as rows the report can tabulate."""

from __future__ import annotations

import math

import torch

from dpt_core.metrics import image
from dpt_core.metrics._common import NotComputed
from dpt_core.metrics.image import ImageLike, MaskLike
from dpt_core.metrics.lpips import LPIPS
from dpt_core.metrics.structural import MS_SSIM_MIN_SIDE

WHOLE_IMAGE_COLUMNS = ("ssim", "ms_ssim", "psnr", "l1", "lpips")
MASK_COLUMNS = ("ssim_mask", "ms_ssim_mask", "psnr_mask", "l1_mask")
IMAGE_COLUMNS = WHOLE_IMAGE_COLUMNS + MASK_COLUMNS
_EMPTY_MASK = str(NotComputed("empty person mask"))
_FUNCTIONS = {"ssim": image.ssim, "ms_ssim": image.ms_ssim, "psnr": image.psnr, "l1": image.l1}

Column = torch.Tensor | str


def _lpips_column(
    lpips_model: LPIPS | NotComputed | None, pred_bchw: torch.Tensor, target_bchw: torch.Tensor
) -> Column:
    if isinstance(lpips_model, LPIPS):
        with torch.inference_mode():
            return lpips_model(pred_bchw, target_bchw).cpu()
    return str(lpips_model or NotComputed("no LPIPS model given (see load_lpips)"))


def _columns(
    pred: ImageLike, target: ImageLike, mask: MaskLike, lpips_model: LPIPS | NotComputed | None
) -> tuple[int, dict[str, Column]]:
    pred_bchw, target_bchw = image.as_image_pair(pred, target)
    batch, _, height, width = pred_bchw.shape
    mask_b1hw = None
    if mask is not None:
        mask_b1hw = image.as_mask_b1hw(mask, batch, height, width).to(pred_bchw.device)
    too_small = str(
        NotComputed(f"MS-SSIM needs ≥ {MS_SSIM_MIN_SIDE} px per side, got {height}×{width}")
    )
    columns: dict[str, Column] = {}
    for name, fn in _FUNCTIONS.items():
        if name == "ms_ssim" and min(height, width) < MS_SSIM_MIN_SIDE:
            columns[name] = columns[name + "_mask"] = too_small
            continue
        columns[name] = fn(pred_bchw, target_bchw).cpu()
        columns[name + "_mask"] = (
            str(NotComputed("no person mask given"))
            if mask_b1hw is None
            else fn(pred_bchw, target_bchw, mask_b1hw).cpu()
        )
    columns["lpips"] = _lpips_column(lpips_model, pred_bchw, target_bchw)
    return batch, {name: columns[name] for name in IMAGE_COLUMNS}


def _cell(value: float) -> float | str:
    return _EMPTY_MASK if math.isnan(value) else value


def compute_image_metrics_batch(
    pred: ImageLike,
    target: ImageLike,
    mask: MaskLike = None,
    *,
    lpips_model: LPIPS | NotComputed | None = None,
) -> list[dict[str, float | str]]:
    """One row per image: ``{column: value or "not computed: <reason>"}`` over ``IMAGE_COLUMNS``.

    ``pred``/``target``: uint8 ``(H, W, 3)``/``(B, H, W, 3)`` or float ``(B, 3, H, W)`` in
    [0, 1]; ``mask``: the person mask of the target, ``(H, W)`` or ``(B, H, W)``.
    """
    batch, columns = _columns(pred, target, mask, lpips_model)
    rows: list[dict[str, float | str]] = [{} for _ in range(batch)]
    for name, column in columns.items():
        for row, value in zip(rows, _per_image(column, batch), strict=True):
            row[name] = value
    return rows


def _per_image(column: Column, batch: int) -> list[float | str]:
    if isinstance(column, str):
        return [column] * batch
    return [_cell(v) for v in column.double().tolist()]


def compute_image_metrics(
    pred: ImageLike,
    target: ImageLike,
    mask: MaskLike = None,
    *,
    lpips_model: LPIPS | NotComputed | None = None,
) -> dict[str, float | str]:
    """Mean of every column over the batch (one image → its own values).

    Images with an empty mask are left out of the mask columns' means; a column no image could
    be scored on is ``"not computed: <reason>"``.
    """
    _, columns = _columns(pred, target, mask, lpips_model)
    out: dict[str, float | str] = {}
    for name, column in columns.items():
        if isinstance(column, str):
            out[name] = column
        else:
            values = column.double()
            finite = values[~values.isnan()]
            out[name] = float(finite.mean()) if finite.numel() else _EMPTY_MASK
    return out
