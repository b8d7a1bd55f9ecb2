"""DensePose chart outputs → IUV images in our convention (``dpt_core.iuv``).

Per detected person, the box-sized outputs are resized bilinearly (``align_corners=False``) to
the integer box ``(int(x0), int(y0), max(int(w), 1), max(int(h), 1))``; the part label is
``argmax(fine)`` where ``argmax(coarse) > 0`` (0 elsewhere) and U, V are read in the chosen
part's channel, clamped to [0, 1]. People are pasted into the image in ascending score order,
so where bodies overlap the higher-scoring person wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.nn import functional as F

from dpt_core import iuv
from dpt_core.densepose.options import PERSON_MODES, PersonMode
from dpt_core.densepose.records import DensePoseResult

if TYPE_CHECKING:
    from dpt_core.densepose.heads import ChartOutputs


def int_box_xywh(box_xyxy: torch.Tensor | np.ndarray) -> tuple[int, int, int, int]:
    """Integer box (x, y, w, h) as DensePose uses it: truncated corner and size, w, h ≥ 1."""
    x0, y0, x1, y1 = (float(c) for c in box_xyxy)
    return int(x0), int(y0), max(int(x1 - x0), 1), max(int(y1 - y0), 1)


def resample_to_box(
    outputs: ChartOutputs, index: int, width: int, height: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Labels (h, w) long in 0..24 and U, V (h, w) float in [0, 1] of person ``index``."""

    tensors = outputs.tensors()
    stacked = torch.cat([t[index : index + 1].float() for t in tensors], dim=1)  # one resize
    resized = F.interpolate(stacked, (height, width), mode="bilinear", align_corners=False)[0]
    coarse, fine, u_all, v_all = resized.split([t.shape[1] for t in tensors])
    labels = fine.argmax(dim=0) * (coarse.argmax(dim=0) > 0)
    chosen = labels[None]
    u = torch.gather(u_all, 0, chosen)[0].nan_to_num(0.0).clamp(0.0, 1.0)
    v = torch.gather(v_all, 0, chosen)[0].nan_to_num(0.0).clamp(0.0, 1.0)
    body = labels > 0
    return labels, u * body, v * body


def _paste(
    canvas: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    person: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    box_xywh: tuple[int, int, int, int],
) -> None:
    labels_c, u_c, v_c = canvas
    img_h, img_w = labels_c.shape
    x, y, w, h = box_xywh
    cx0, cy0, cx1, cy1 = max(x, 0), max(y, 0), min(x + w, img_w), min(y + h, img_h)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    crop = (slice(cy0 - y, cy1 - y), slice(cx0 - x, cx1 - x))
    region = (slice(cy0, cy1), slice(cx0, cx1))
    labels_p = person[0][crop]
    body = labels_p > 0
    for dst, src in zip(
        (labels_c, u_c, v_c), (labels_p, person[1][crop], person[2][crop]), strict=True
    ):
        dst[region] = torch.where(body, src.to(dst.dtype), dst[region])


def _to_iuv(canvas: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> np.ndarray:
    labels, u, v = (t.cpu().numpy() for t in canvas)
    return iuv.iuv_from_float(labels.astype(np.uint8), u, v)


def _check_inputs(
    outputs: ChartOutputs,
    boxes: torch.Tensor,
    scores: torch.Tensor,
    image_hw: tuple[int, int],
    mode: str,
) -> None:
    if mode not in PERSON_MODES:
        raise ValueError(f"mode: expected one of {PERSON_MODES}, got {mode!r}")
    n = len(outputs)
    if boxes.shape != (n, 4) or scores.shape != (n,):
        raise ValueError(
            f"boxes_xyxy/scores: expected shapes ({n}, 4)/({n},) for {n} outputs, "
            f"got {tuple(boxes.shape)}/{tuple(scores.shape)}"
        )
    if len(image_hw) != 2 or min(image_hw) < 1:
        raise ValueError(f"image_hw: expected (H, W) ≥ 1, got {image_hw}")


def chart_outputs_to_iuv(
    outputs: ChartOutputs,
    boxes_xyxy: torch.Tensor,
    scores: torch.Tensor,
    image_hw: tuple[int, int],
    mode: PersonMode = "all",
) -> list[DensePoseResult]:
    """Turn one image's DensePose outputs into IUV images.

    ``mode``: ``"all"`` — one IUV with every person (overlaps resolved by score);
    ``"largest"`` — one IUV with only the person with the most body pixels;
    ``"each"`` — one IUV per person, highest score first. People with no body pixel are
    dropped; an empty list means no person.
    """
    _check_inputs(outputs, boxes_xyxy, scores, image_hw, mode)
    device = outputs.fine_segm.device
    people = []
    for i in range(len(outputs)):
        box = int_box_xywh(boxes_xyxy[i])
        dense = resample_to_box(outputs, i, box[2], box[3])
        canvas = _blank(image_hw, device)
        _paste(canvas, dense, box)
        area = int((canvas[0] > 0).sum())
        if area > 0:
            people.append((float(scores[i]), area, i, canvas))
    if not people:
        return []
    n = len(outputs)
    boxes_np = boxes_xyxy.detach().float().cpu().numpy()
    if mode == "largest":
        people = [max(people, key=lambda p: (p[1], p[0]))]
    people.sort(key=lambda p: -p[0])
    if mode == "each" or len(people) == 1:
        return [_result(_to_iuv(p[3]), boxes_np, [p], n) for p in people]
    composite = _blank(image_hw, device)
    for person in reversed(people):  # ascending score: the best person is pasted last
        _merge(composite, person[3])
    return [_result(_to_iuv(composite), boxes_np, people, n)]


def _blank(image_hw: tuple[int, int], device: torch.device) -> tuple[torch.Tensor, ...]:
    h, w = image_hw
    labels = torch.zeros((h, w), dtype=torch.long, device=device)
    return labels, torch.zeros((h, w), device=device), torch.zeros((h, w), device=device)


def _merge(dst: tuple[torch.Tensor, ...], src: tuple[torch.Tensor, ...]) -> None:
    body = src[0] > 0
    for d, s in zip(dst, src, strict=True):
        d[body] = s[body]


def _result(
    iuv_hw3: np.ndarray, boxes_np: np.ndarray, people: list, n_detected: int
) -> DensePoseResult:
    index = [p[2] for p in people]
    scores = np.asarray([p[0] for p in people], dtype=np.float32)
    return DensePoseResult(iuv_hw3, boxes_np[index].reshape(-1, 4), scores, n_detected)
