"""The blending branch: fuse the predictive and warped images into the final image.

Input (concatenated): predicted image (3) and features, warped image (3) and features, the
target IUV (``iuv_to_input``, ``IUV_CHANNELS``) and the target body mask (1). A conv, ``n_res``
residual blocks and a 3×3 head give one blending logit and a 3-channel correction::

    alpha = sigmoid(logit) · body_mask
    image = clamp(alpha · warped + (1 - alpha) · predicted + correction, -1, 1)

The mask confines the warped image to the body surface (it is 0 elsewhere). The head's weights
start at zero and its logit bias at ``warp_prior`` (4: alpha = 0.98), so an untrained blender
shows the warped image on the body and the predicted image off it; training moves alpha towards
whichever branch is right per pixel. The paper leaves the start open; starting from the plain
average (``warp_prior=0``) cost the blend its lead inside the body at the step budgets a CPU
affords, because the warped branch is the one that carries the source's texture there; on the
validation split 4 beat 2 on body and person-mask L1 (``benchmarks/RESULTS.md``, issue #19).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from dpt_core.models.blocks import (
    IUV_CHANNELS,
    ResBlock,
    body_mask,
    check_bchw,
    conv_block,
    iuv_to_input,
)
from dpt_core.models.scales import ModelScale


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
        warp_prior: float = 4.0,
    ) -> None:
        super().__init__()
        self.predicted_channels = predicted_channels
        self.warped_channels = warped_channels
        in_channels = 3 + predicted_channels + 3 + warped_channels + IUV_CHANNELS + 1
        self.body = nn.Sequential(
            conv_block(in_channels, width, norm=norm),
            *(ResBlock(width, norm=norm) for _ in range(n_res)),
        )
        self.head = nn.Conv2d(width, 4, 3, padding=1, padding_mode="reflect")
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.head.bias[0] = warp_prior

    @classmethod
    def from_config(
        cls, scale: ModelScale, predicted_channels: int, warped_channels: int
    ) -> Blender:
        """Build from ``scale.blender`` for branches with these feature widths."""
        b = scale.blender
        return cls(predicted_channels, warped_channels, b.width, b.n_res, b.norm, b.warp_prior)

    def forward(
        self,
        predicted_bchw: torch.Tensor,
        predicted_features: torch.Tensor,
        warped_bchw: torch.Tensor,
        warped_features: torch.Tensor,
        target_iuv_b3hw: torch.Tensor,
    ) -> BlendOutput:
        """Blend; all inputs share (B, ·, H, W); images in [-1, 1]."""
        check_bchw("predicted_bchw", predicted_bchw, channels=3)
        check_bchw(
            "predicted_features", predicted_features, self.predicted_channels, like=predicted_bchw
        )
        check_bchw("warped_bchw", warped_bchw, channels=3, like=predicted_bchw)
        check_bchw("warped_features", warped_features, self.warped_channels, like=predicted_bchw)
        check_bchw("target_iuv_b3hw", target_iuv_b3hw, channels=3, like=predicted_bchw)
        mask = body_mask(target_iuv_b3hw)
        x = torch.cat(
            (
                predicted_bchw,
                predicted_features,
                warped_bchw,
                warped_features,
                iuv_to_input(target_iuv_b3hw),
                mask,
            ),
            dim=1,
        )
        logit, correction = self.head(self.body(x)).split((1, 3), dim=1)
        alpha = torch.sigmoid(logit) * mask
        blended = alpha * warped_bchw + (1.0 - alpha) * predicted_bchw + correction
        return BlendOutput(blended.clamp(-1.0, 1.0), alpha)
