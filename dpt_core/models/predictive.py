"""The predictive branch: a residual U-Net from (source RGB, source IUV, target IUV) to the target.

Input at full resolution: the source image in [-1, 1] and both IUVs through ``iuv_to_input``
(``IN_CHANNELS`` = 3 + 2·26). A 7×7 stem, ``n_down`` stride-2 levels (each a conv and a
residual block, widths doubling up to ``max_width``), ``n_res`` residual blocks at the
bottleneck, then ``n_down`` nearest-upsampling levels that concatenate skip features and refine
with a residual block. A 7×7 head with ``tanh`` gives the target image in [-1, 1]. The features
that enter the head (``base_width`` channels, full resolution) are returned for the blender.

Skips (``skips="all"``, the default): the plain U-Net, whose skips carry the full encoder —
including the source image, aligned with the *source* pose while the output follows the target;
a photo shoot's background is pixel-aligned between source and target and reaches the output
through them. ``"target"`` takes the skips from a light encoder of the target IUV alone (a 7×7
stem and one stride-2 conv per level), so the source reaches the decoder only through the
bottleneck; on the studio's validation split that cost whole-image SSIM 0.50 -> 0.39.

The saturated "head blob" that short trainings painted at the *source* head's position came
from instance normalisation (``norm="instance"``): it removes every image's mean colour from
every feature map, so the U-Net cannot carry absolute colours. Without normalisation (the demo
scale) the blob is gone and the branch is better on every validation column
(``benchmarks/RESULTS.md``, issue #19).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from dpt_core.models.blocks import (
    IUV_CHANNELS,
    ResBlock,
    Upsample,
    check_bchw,
    conv_block,
    iuv_to_input,
)
from dpt_core.models.scales import ModelScale

IN_CHANNELS = 3 + 2 * IUV_CHANNELS


class PredictiveOutput(NamedTuple):
    """``image``: (B, 3, H, W) in [-1, 1]; ``features``: (B, base_width, H, W) last decoder map."""

    image: torch.Tensor
    features: torch.Tensor


def check_pair_inputs(
    source_bchw: torch.Tensor, source_iuv_b3hw: torch.Tensor, target_iuv_b3hw: torch.Tensor
) -> None:
    """ValueError naming the argument unless source and both IUVs are (B, 3, H, W) of one size."""
    check_bchw("source_bchw", source_bchw, channels=3)
    check_bchw("source_iuv_b3hw", source_iuv_b3hw, channels=3, like=source_bchw)
    check_bchw("target_iuv_b3hw", target_iuv_b3hw, channels=3)
    if target_iuv_b3hw.shape[0] != source_bchw.shape[0]:
        raise ValueError(
            f"target_iuv_b3hw: batch {target_iuv_b3hw.shape[0]} != source {source_bchw.shape[0]}"
        )


class PredictiveBranch(nn.Module):
    """Residual U-Net predicting the target image; H and W must be multiples of 2**n_down."""

    def __init__(
        self,
        base_width: int = 64,
        max_width: int = 512,
        n_down: int = 4,
        n_res: int = 6,
        norm: str = "instance",
        skips: str = "all",
    ) -> None:
        super().__init__()
        if skips not in ("target", "all"):
            raise ValueError(f"skips: expected 'target' or 'all', got {skips!r}")
        widths = [min(base_width * 2**i, max_width) for i in range(n_down + 1)]
        self.n_down = n_down
        self.skips = skips
        self.feature_channels = base_width
        self.stem = conv_block(IN_CHANNELS, widths[0], kernel_size=7, norm=norm)
        self.downs = nn.ModuleList(
            nn.Sequential(
                conv_block(widths[i], widths[i + 1], stride=2, norm=norm),
                ResBlock(widths[i + 1], norm=norm),
            )
            for i in range(n_down)
        )
        if skips == "target":
            self.pose_stem = conv_block(IUV_CHANNELS, widths[0], kernel_size=7, norm=norm)
            self.pose_downs = nn.ModuleList(
                conv_block(widths[i], widths[i + 1], stride=2, norm=norm) for i in range(n_down - 1)
            )
        self.bottleneck = nn.Sequential(*(ResBlock(widths[-1], norm=norm) for _ in range(n_res)))
        self.ups = nn.ModuleList(
            Upsample(widths[i + 1], widths[i], norm=norm) for i in reversed(range(n_down))
        )
        self.fuses = nn.ModuleList(
            nn.Sequential(
                conv_block(2 * widths[i], widths[i], norm=norm), ResBlock(widths[i], norm=norm)
            )
            for i in reversed(range(n_down))
        )
        self.head = nn.Sequential(
            nn.Conv2d(widths[0], 3, 7, padding=3, padding_mode="reflect"), nn.Tanh()
        )

    @classmethod
    def from_config(cls, scale: ModelScale) -> PredictiveBranch:
        """Build from ``scale.predictive``."""
        p = scale.predictive
        return cls(p.base_width, p.max_width, p.n_down, p.n_res, p.norm, p.skips)

    def forward(
        self,
        source_bchw: torch.Tensor,
        source_iuv_b3hw: torch.Tensor,
        target_iuv_b3hw: torch.Tensor,
    ) -> PredictiveOutput:
        """Predict the target image from the source image (in [-1, 1]) and both IUVs.

        The target IUV sets the output size; here it must equal the source size.
        """
        check_pair_inputs(source_bchw, source_iuv_b3hw, target_iuv_b3hw)
        check_bchw("target_iuv_b3hw", target_iuv_b3hw, channels=3, like=source_bchw)
        h, w = source_bchw.shape[2:]
        step = 2**self.n_down
        if h % step or w % step:
            raise ValueError(
                f"source_bchw: height and width must be multiples of {step}, got {(h, w)}"
            )
        x = torch.cat(
            (source_bchw, iuv_to_input(source_iuv_b3hw), iuv_to_input(target_iuv_b3hw)), dim=1
        )
        x = self.stem(x)
        skips = []
        for down in self.downs:
            skips.append(x)
            x = down(x)
        if self.skips == "target":
            skips = [self.pose_stem(iuv_to_input(target_iuv_b3hw))]
            for down in self.pose_downs:
                skips.append(down(skips[-1]))
        x = self.bottleneck(x)
        for up, fuse, skip in zip(self.ups, self.fuses, reversed(skips), strict=True):
            x = fuse(torch.cat((up(x), skip), dim=1))
        return PredictiveOutput(self.head(x), x)
