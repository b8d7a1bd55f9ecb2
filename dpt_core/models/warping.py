"""The warping branch: scatter into the UV atlas, inpaint the texture, gather into the target pose.

1. ``scatter_torch`` projects the source image through the source IUV into a partial atlas and a
   visibility mask (or the caller passes both, e.g. precomputed by the textures stage);
2. ``TextureInpainter`` completes the atlas (and a per-texel feature atlas);
3. ``gather_torch(..., mode="bilinear")`` renders both through the target IUV. Bilinear sampling
   is differentiable with respect to the atlas, so image losses train the inpainter.

Outside the body (target I = 0) the warped image and features are 0: the surface carries no
hair or loose clothing, which is what the predictive branch and the blender supply.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from dpt_core.atlas import atlas_shape, gather_torch, scatter_torch
from dpt_core.models.blocks import check_bchw
from dpt_core.models.inpainter import TextureInpainter
from dpt_core.models.predictive import check_pair_inputs
from dpt_core.models.scales import ModelScale


class WarpingOutput(NamedTuple):
    """Images at the target IUV's size; atlases (B, C, 6n, 4n).

    ``image`` (B, 3, H, W) in [-1, 1], 0 off the body; ``features`` (B, F, H, W);
    ``atlas`` the completed texture; ``partial_atlas`` / ``visibility`` (B, 1, ·) 0/1 the inputs
    to the inpainter (what the multi-view loss compares against).
    """

    image: torch.Tensor
    features: torch.Tensor
    atlas: torch.Tensor
    partial_atlas: torch.Tensor
    visibility: torch.Tensor


class WarpingBranch(nn.Module):
    """Scatter -> ``TextureInpainter`` -> bilinear gather."""

    def __init__(self, inpainter: TextureInpainter) -> None:
        super().__init__()
        self.inpainter = inpainter
        self.atlas_n = inpainter.atlas_n
        self.feature_channels = inpainter.feature_channels

    @classmethod
    def from_config(cls, scale: ModelScale) -> WarpingBranch:
        """Build with a ``TextureInpainter.from_config(scale)``."""
        return cls(TextureInpainter.from_config(scale))

    def partial_texture(
        self, source_bchw: torch.Tensor, source_iuv_b3hw: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(partial atlas (B, 3, 6n, 4n), visibility (B, 1, 6n, 4n) 0/1) of the source image."""
        return scatter_torch(source_bchw, source_iuv_b3hw, self.atlas_n)

    def forward(
        self,
        source_bchw: torch.Tensor,
        source_iuv_b3hw: torch.Tensor,
        target_iuv_b3hw: torch.Tensor,
        partial_atlas: torch.Tensor | None = None,
        visibility: torch.Tensor | None = None,
    ) -> WarpingOutput:
        """Warp the source image (in [-1, 1]) into the target pose.

        ``partial_atlas`` and ``visibility`` (both or neither) skip the scatter step.
        """
        check_pair_inputs(source_bchw, source_iuv_b3hw, target_iuv_b3hw)
        if (partial_atlas is None) != (visibility is None):
            raise ValueError("partial_atlas, visibility: pass both or neither")
        if partial_atlas is None:
            partial_atlas, visibility = self.partial_texture(source_bchw, source_iuv_b3hw)
        else:
            check_bchw("partial_atlas", partial_atlas, channels=3)
            check_bchw("visibility", visibility, channels=1, like=partial_atlas)
            if partial_atlas.shape[0] != source_bchw.shape[0]:
                raise ValueError("partial_atlas: batch size differs from source_bchw")
            if tuple(partial_atlas.shape[2:]) != atlas_shape(self.atlas_n):
                raise ValueError(
                    f"partial_atlas: expected {atlas_shape(self.atlas_n)} texels, "
                    f"got {tuple(partial_atlas.shape[2:])}"
                )
        atlas, feature_atlas = self.inpainter(partial_atlas, visibility)
        image = gather_torch(atlas, target_iuv_b3hw, mode="bilinear")
        features = gather_torch(feature_atlas, target_iuv_b3hw, mode="bilinear")
        return WarpingOutput(image, features, atlas, partial_atlas, visibility)
