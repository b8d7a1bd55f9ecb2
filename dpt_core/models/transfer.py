"""The full Dense Pose Transfer generator: predictive + warping branches fused by the blender."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from dpt_core.models.blender import Blender
from dpt_core.models.predictive import PredictiveBranch
from dpt_core.models.scales import ModelScale, get_scale
from dpt_core.models.warping import WarpingBranch


class TransferOutput(NamedTuple):
    """Everything one generator pass produces (images (B, 3, H, W) in [-1, 1]).

    ``image`` final; ``predicted`` / ``warped`` the branches' images; ``alpha`` (B, 1, H, W)
    blend weight of ``warped``; ``atlas`` completed texture (B, 3, 6n, 4n); ``partial_atlas`` and
    ``visibility`` (B, 1, 6n, 4n) the scattered source texture, for the multi-view loss.
    """

    image: torch.Tensor
    predicted: torch.Tensor
    warped: torch.Tensor
    alpha: torch.Tensor
    atlas: torch.Tensor
    partial_atlas: torch.Tensor
    visibility: torch.Tensor


class DensePoseTransfer(nn.Module):
    """Generator of the paper: ``PredictiveBranch`` and ``WarpingBranch`` run side by side on
    (source image, source IUV, target IUV); ``Blender`` fuses their images and features."""

    def __init__(
        self, predictive: PredictiveBranch, warping: WarpingBranch, blender: Blender
    ) -> None:
        super().__init__()
        if blender.predicted_channels != predictive.feature_channels:
            raise ValueError(
                f"blender: expects {blender.predicted_channels} predictive feature channels, "
                f"the predictive branch gives {predictive.feature_channels}"
            )
        if blender.warped_channels != warping.feature_channels:
            raise ValueError(
                f"blender: expects {blender.warped_channels} warped feature channels, "
                f"the warping branch gives {warping.feature_channels}"
            )
        self.predictive = predictive
        self.warping = warping
        self.blender = blender

    @classmethod
    def from_config(cls, scale: ModelScale | str) -> DensePoseTransfer:
        """Build all three branches from one scale (a ``ModelScale`` or its name)."""
        scale = get_scale(scale)
        predictive = PredictiveBranch.from_config(scale)
        warping = WarpingBranch.from_config(scale)
        blender = Blender.from_config(scale, predictive.feature_channels, warping.feature_channels)
        return cls(predictive, warping, blender)

    def forward(
        self,
        source_bchw: torch.Tensor,
        source_iuv_b3hw: torch.Tensor,
        target_iuv_b3hw: torch.Tensor,
        partial_atlas: torch.Tensor | None = None,
        visibility: torch.Tensor | None = None,
    ) -> TransferOutput:
        """Transfer the person in ``source_bchw`` ([-1, 1]) to the pose of ``target_iuv_b3hw``.

        IUVs hold (I, U·255, V·255). ``partial_atlas`` / ``visibility``: optional precomputed
        source texture (see ``WarpingBranch``).
        """
        predicted = self.predictive(source_bchw, source_iuv_b3hw, target_iuv_b3hw)
        warped = self.warping(
            source_bchw, source_iuv_b3hw, target_iuv_b3hw, partial_atlas, visibility
        )
        blend = self.blender(
            predicted.image,
            predicted.features,
            warped.image,
            warped.features,
            target_iuv_b3hw,
            source_bchw,
            source_iuv_b3hw,
        )
        return TransferOutput(
            blend.image,
            predicted.image,
            warped.image,
            blend.alpha,
            warped.atlas,
            warped.partial_atlas,
            warped.visibility,
        )
