"""DensePose chart outputs → IUV images in our convention (``dpt_core.iuv``).

Per detected person, the box-sized outputs are resized bilinearly (``align_corners=False``) to
the integer box of :func:`int_box_xywh`; the part label is ``argmax(fine)`` where
``argmax(coarse) > 0`` (0 elsewhere) and U, V are read in the chosen part's channel, clamped
to [0, 1] — detectron2's ``densepose_chart_predictor_output_to_result``. People sharing one IUV
(mode ``"all"``) are combined by an overlap rule (``options.OVERLAP_RULES``): by default the
higher-scoring person wins a body pixel; ``"detectron"`` is Detectron's ``_IUV.png`` writer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
from torch.nn import functional as F

from dpt_core import iuv
from dpt_core.densepose.options import (
    DETECTRON_IUV_MIN_SCORE,
    OVERLAP_RULES,
    PERSON_MODES,
    Overlap,
    PersonMode,
)
from dpt_core.densepose.records import DensePoseResult

if TYPE_CHECKING:
    from dpt_core.densepose.heads import ChartOutputs

Canvas = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # labels (H, W) long, u, v float


class _Person(NamedTuple):
    score: float
    area: int  # body pixels inside the image
    index: int  # row in the model outputs
    canvas: Canvas  # image-sized, zero off this person's body


def int_box_xywh(box_xyxy: torch.Tensor | np.ndarray) -> tuple[int, int, int, int]:
    """Integer box (x, y, w, h) as detectron2's DensePose makes it, w, h ≥ 1.

    Like ``BoxMode.convert(XYXY_ABS → XYWH_ABS)`` then ``make_int_box``: the width and height
    are subtracted in float32 and every value is truncated toward zero, so (0.1, 0, 100.1, 50)
    gives width 100 (float32 100.1 − 0.1 rounds to 100.0; in doubles it would be 99.99999…).
    """
    xyxy = torch.as_tensor(box_xyxy).detach().to("cpu", torch.float32).reshape(4)
    xywh = torch.cat([xyxy[:2], xyxy[2:] - xyxy[:2]])
    x, y, w, h = xywh.long().tolist()
    return x, y, max(w, 1), max(h, 1)


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
    canvas: Canvas,
    person: Canvas,
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


def _to_iuv(canvas: Canvas) -> np.ndarray:
    labels, u, v = (t.cpu().numpy() for t in canvas)
    return iuv.iuv_from_float(labels.astype(np.uint8), u, v)


def _check_inputs(
    outputs: ChartOutputs,
    boxes: torch.Tensor,
    scores: torch.Tensor,
    image_hw: tuple[int, int],
    mode: str,
    overlap: str,
) -> None:
    if mode not in PERSON_MODES:
        raise ValueError(f"mode: expected one of {PERSON_MODES}, got {mode!r}")
    if overlap not in OVERLAP_RULES:
        raise ValueError(f"overlap: expected one of {OVERLAP_RULES}, got {overlap!r}")
    if overlap != "score" and mode != "all":
        raise ValueError(f"overlap: {overlap!r} combines people in mode 'all' only, not {mode!r}")
    n = len(outputs)
    if boxes.shape != (n, 4) or scores.shape != (n,):
        raise ValueError(
            f"boxes_xyxy/scores: expected shapes ({n}, 4)/({n},) for {n} outputs, "
            f"got {tuple(boxes.shape)}/{tuple(scores.shape)}"
        )
    if len(image_hw) != 2 or min(image_hw) < 1:
        raise ValueError(f"image_hw: expected (H, W) ≥ 1, got {image_hw}")


def _people(
    outputs: ChartOutputs, boxes_xyxy: torch.Tensor, scores: torch.Tensor, image_hw: tuple
) -> list[_Person]:
    """Every detection pasted alone on an image-sized canvas; those with no body pixel dropped."""
    people = []
    for i in range(len(outputs)):
        box = int_box_xywh(boxes_xyxy[i])
        canvas = _blank(image_hw, outputs.fine_segm.device)
        _paste(canvas, resample_to_box(outputs, i, box[2], box[3]), box)
        area = int((canvas[0] > 0).sum())
        if area > 0:
            people.append(_Person(float(scores[i]), area, i, canvas))
    return people


def chart_outputs_to_iuv(
    outputs: ChartOutputs,
    boxes_xyxy: torch.Tensor,
    scores: torch.Tensor,
    image_hw: tuple[int, int],
    mode: PersonMode = "all",
    overlap: Overlap = "score",
) -> list[DensePoseResult]:
    """Turn one image's DensePose outputs into IUV images.

    ``mode``: ``"all"`` — one IUV with every person, overlaps resolved by ``overlap`` (see
    ``options.OVERLAP_RULES``; ``"detectron"`` also drops people scoring ≤ 0.65);
    ``"largest"`` — one IUV with only the person with the most body pixels; ``"each"`` — one
    IUV per person, highest score first. People with no body pixel are dropped; an empty list
    means no person.
    """
    _check_inputs(outputs, boxes_xyxy, scores, image_hw, mode, overlap)
    people = _people(outputs, boxes_xyxy, scores, image_hw)
    if mode == "all" and overlap == "detectron":
        people = [p for p in people if p.score > DETECTRON_IUV_MIN_SCORE]
    if not people:
        return []
    n = len(outputs)
    boxes_np = boxes_xyxy.detach().float().cpu().numpy()
    if mode == "largest":
        people = [max(people, key=lambda p: (p.area, p.score))]
    people.sort(key=lambda p: -p.score)  # stable: equal scores keep detection order
    if mode == "each" or len(people) == 1:
        return [_result(_to_iuv(p.canvas), boxes_np, [p], n) for p in people]
    composite = _blank(image_hw, outputs.fine_segm.device)
    for person in reversed(people):  # ascending score
        if overlap == "detectron":
            _fill_empty(composite, person.canvas)
        else:
            _paste_body(composite, person.canvas)  # the best person is pasted last
    return [_result(_to_iuv(composite), boxes_np, people, n)]


def _blank(image_hw: tuple[int, int], device: torch.device) -> Canvas:
    h, w = image_hw
    labels = torch.zeros((h, w), dtype=torch.long, device=device)
    return labels, torch.zeros((h, w), device=device), torch.zeros((h, w), device=device)


def _paste_body(dst: Canvas, src: Canvas) -> None:
    """Every channel of ``src``'s body pixels overwrites ``dst``."""
    body = src[0] > 0
    for d, s in zip(dst, src, strict=True):
        d[body] = s[body]


def _fill_empty(dst: Canvas, src: Canvas) -> None:
    """Detectron's rule: each value of ``dst`` (label, U, V separately) still 0 takes ``src``'s."""
    for d, s in zip(dst, src, strict=True):
        empty = d == 0
        d[empty] = s[empty]


def _result(
    iuv_hw3: np.ndarray, boxes_np: np.ndarray, people: list[_Person], n_detected: int
) -> DensePoseResult:
    index = [p.index for p in people]
    scores = np.asarray([p.score for p in people], dtype=np.float32)
    return DensePoseResult(iuv_hw3, boxes_np[index].reshape(-1, 4), scores, n_detected)
