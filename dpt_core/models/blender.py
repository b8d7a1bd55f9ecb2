"""The blending branch: fuse the predictive and warped images into the final image.

Input (concatenated): predicted image (3) and features, warped image (3) and features, the
target IUV (``iuv_to_input``, ``IUV_CHANNELS``), the target body mask (1) and, with
``copy_source``, the background plate (3) and the source's person hole (1). A conv, ``n_res``
residual blocks and a 3×3 head give a warp logit, a 3-channel correction and, with
``copy_source``, a source logit::

    alpha    = min(1, (1 + warp_slack) · sigmoid(warp logit)) · target body mask   (I > 0)
               (with body="warped": the target body mask itself)
    plate    = the source image, its person hole filled from around it (``plate_fill``)
    share    = sigmoid(source logit) · (1 - target person hole)
               + sigmoid(source logit - shift) · (target person hole - target body mask)
               (the second term only with ``hole_share`` > 0, its start share there)
    off_body = share · plate + (1 - share) · (predicted + correction)
    image    = clamp(alpha · warped + (1 - alpha) · off_body, -1, 1)

A person hole is the body dilated by ``copy_margin``·H (``blocks.person_hole``): where hair and
loose clothing, which DensePose labels I = 0, may be. The choices the paper leaves open, each
measured on the validation split (``benchmarks/ablation.py --validation``, issue #19 in
``benchmarks/RESULTS.md``):

- The warped image only on the body surface (it is 0 elsewhere), and it starts dominant there:
  the head's weights start at zero and the warp logit's bias at ``warp_prior`` (alpha 0.9975).
  The warped branch carries the source's texture; the predictive branch, for a person it has
  not seen, adds nothing it lacks there. A learned alpha never beat warping on the body for new
  people (within 1e-5 on validation, 0.0005 of L1 worse on test), also when it could reach
  exactly 1 (``warp_slack`` > 0: training lowered it), so the demo scale does not learn it:
  with ``body="warped"`` the blend is the warped image on the body and the blender's work is
  everywhere else.
- The correction refines only the predicted share (``correction="predicted"``); added to the
  whole blend (``"everywhere"``, checkpoints from before) it was trained mostly by the background
  and cost L1 on the body and on hair and clothing.
- ``copy_source``: a photo shoot's background is the same in every pose, so off both persons
  the source image itself is the best guess of the target's background, and where the source
  person hid it a fill from around it beats what the predictive branch paints there; the
  blender learns where to trust the plate (start: 0.88). ``plate_fill="span"`` (demo) fills
  the hole along rows and columns, each weighted by how short it is and how well its two ends
  agree, so a horizon, a floor line or a stripe runs on through it; the push-pull blur left a
  grey figure where the source had stood (validation L1 on that background 0.0596 against
  0.0737; ``texture_fill.span_fill``).
- ``hole_share`` (off in every shipped scale): inside the target's person hole but off its
  body most pixels are background, and with no plate there the predicted image's colour cast
  draws a halo around the person. A learned share of the plate there from a small start removes
  most of it (validation, 900 blender steps: whole-image SSIM 0.771 → 0.798, L1 0.0331 →
  0.0286) but puts background on hair and loose clothing too (their L1 0.2144 → 0.2306): a
  choice between the whole image and the person, left to the user.
- No normalisation, 32 channels at the demo scale (``norm="none"``, ``width=32``). Instance
  norm takes each image's mean colour out of every feature map, so the correction could not
  tell a predicted hair colour that matches the source from one that does not (the predictive
  branch's head blob had the same cause, ``models.predictive``). Validation, 900 steps:
  hair/cloth L1 0.2182 → 0.2035 without it, 0.1934 at twice the width (0.1975 at four times,
  +200 s a seed); whole-image SSIM 0.7729 → 0.7766. Inputs tried on top and dropped: the source's
  hair/cloth carried along the body's flow, and its mean colour (hair/cloth 0.2303, 0.2116).
- What it is trained on is the training config's choice: with ``stages.blending.held_out_every``
  (the demo recipe) it learns on people the predictive branch never saw, so it sees that branch's
  error on new people rather than on the ones it memorised.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from dpt_core.models.blocks import (
    IUV_CHANNELS,
    ResBlock,
    body_mask,
    check_bchw,
    clamp_image,
    clamp_through,
    conv_block,
    iuv_to_input,
    person_hole,
)
from dpt_core.models.scales import ModelScale
from dpt_core.texture_fill import push_pull, span_fill

SOURCE_PRIOR = 2.0  # initial source logit off the target person: 0.88 of the plate
PLATE_FILLS = {"push_pull": push_pull, "span": span_fill}  # scale.blender.plate_fill


class BlendOutput(NamedTuple):
    """``image``: (B, 3, H, W) in [-1, 1]; ``alpha``: (B, 1, H, W) weight of the warped image."""

    image: torch.Tensor
    alpha: torch.Tensor


class Blender(nn.Module):
    """Small residual network predicting a per-pixel blend of the two branches plus a correction."""

    def __init__(
        self,
        predicted_channels: int,
        warped_channels: int,
        width: int = 64,
        n_res: int = 3,
        norm: str = "instance",
        warp_prior: float = 6.0,
        correction: str = "predicted",
        copy_source: bool = True,
        copy_margin: float = 1 / 32,
        warp_slack: float = 0.0,
        body: str = "learned",
        plate_fill: str = "push_pull",
        hole_share: float = 0.0,
    ) -> None:
        super().__init__()
        self.predicted_channels = predicted_channels
        self.warped_channels = warped_channels
        if correction not in ("predicted", "everywhere", "none"):
            raise ValueError(f"correction: 'predicted', 'everywhere' or 'none', got {correction!r}")
        self.correction = correction
        self.copy_source = copy_source
        self.copy_margin = copy_margin
        self.warp_slack = warp_slack
        if body not in ("learned", "warped"):
            raise ValueError(f"body: 'learned' or 'warped', got {body!r}")
        self.body_rule = body
        if plate_fill not in PLATE_FILLS:
            raise ValueError(f"plate_fill: one of {sorted(PLATE_FILLS)}, got {plate_fill!r}")
        self.plate_fill = PLATE_FILLS[plate_fill]
        if not 0.0 <= hole_share < 1.0:
            raise ValueError(f"hole_share: in [0, 1), got {hole_share}")
        self.hole_share = hole_share
        in_channels = 3 + predicted_channels + 3 + warped_channels + IUV_CHANNELS + 1
        in_channels += 4 if copy_source else 0  # the plate and the source's person hole
        self.body = nn.Sequential(
            conv_block(in_channels, width, norm=norm),
            *(ResBlock(width, norm=norm) for _ in range(n_res)),
        )
        out_channels = 5 if copy_source else 4  # warp logit, correction, (source logit)
        self.head = nn.Conv2d(width, out_channels, 3, padding=1, padding_mode="reflect")
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.head.bias[0] = warp_prior
            if copy_source:
                self.head.bias[4] = SOURCE_PRIOR

    @classmethod
    def from_config(
        cls, scale: ModelScale, predicted_channels: int, warped_channels: int
    ) -> Blender:
        """Build from ``scale.blender`` for branches with these feature widths."""
        b = scale.blender
        return cls(
            predicted_channels,
            warped_channels,
            b.width,
            b.n_res,
            b.norm,
            b.warp_prior,
            b.correction,
            b.copy_source,
            b.copy_margin,
            b.warp_slack,
            b.body,
            b.plate_fill,
            b.hole_share,
        )

    def forward(
        self,
        predicted_bchw: torch.Tensor,
        predicted_features: torch.Tensor,
        warped_bchw: torch.Tensor,
        warped_features: torch.Tensor,
        target_iuv_b3hw: torch.Tensor,
        source_bchw: torch.Tensor | None = None,
        source_iuv_b3hw: torch.Tensor | None = None,
    ) -> BlendOutput:
        """Blend; all inputs share (B, ·, H, W); images in [-1, 1]. The source image and IUV
        are required with ``copy_source`` and ignored without it."""
        check_bchw("predicted_bchw", predicted_bchw, channels=3)
        check_bchw(
            "predicted_features", predicted_features, self.predicted_channels, like=predicted_bchw
        )
        check_bchw("warped_bchw", warped_bchw, channels=3, like=predicted_bchw)
        check_bchw("warped_features", warped_features, self.warped_channels, like=predicted_bchw)
        check_bchw("target_iuv_b3hw", target_iuv_b3hw, channels=3, like=predicted_bchw)
        mask = body_mask(target_iuv_b3hw)
        inputs = [predicted_bchw, predicted_features, warped_bchw, warped_features,
                  iuv_to_input(target_iuv_b3hw), mask]  # fmt: skip
        if self.copy_source:
            if source_bchw is None or source_iuv_b3hw is None:
                raise ValueError("source_bchw, source_iuv_b3hw: required with copy_source")
            check_bchw("source_bchw", source_bchw, channels=3, like=predicted_bchw)
            check_bchw("source_iuv_b3hw", source_iuv_b3hw, channels=3, like=predicted_bchw)
            hole = person_hole(source_iuv_b3hw, self.copy_margin)
            plate = self.plate_fill(source_bchw, 1.0 - hole)  # the source's background, filled
            inputs += [plate, hole]
        head = self.head(self.body(torch.cat(inputs, dim=1)))
        logit, correction = head[:, :1], head[:, 1:4]
        if self.body_rule == "warped":
            alpha = mask
        else:
            alpha = clamp_through((1.0 + self.warp_slack) * torch.sigmoid(logit), 0.0, 1.0) * mask
        off_body = predicted_bchw + correction if self.correction == "predicted" else predicted_bchw
        if self.copy_source:
            target_hole = person_hole(target_iuv_b3hw, self.copy_margin)
            share = torch.sigmoid(head[:, 4:5]) * (1.0 - target_hole)
            if self.hole_share > 0:  # the target's hole off its body: a learned share from there
                shift = SOURCE_PRIOR - math.log(self.hole_share / (1.0 - self.hole_share))
                share = share + torch.sigmoid(head[:, 4:5] - shift) * (target_hole - mask)
            off_body = share * plate + (1.0 - share) * off_body
        blended = alpha * warped_bchw + (1.0 - alpha) * off_body
        if self.correction == "everywhere":
            blended = blended + correction
        return BlendOutput(clamp_image(blended), alpha)
