"""Networks of Dense Pose Transfer: predictive, warping (inpainter), blender, discriminator.

Images are (B, 3, H, W) in [-1, 1]; IUVs (B, 3, H, W) hold (I, U·255, V·255); atlases are
(B, C, 6n, 4n) (see ``blocks``). Every model has ``from_config(scale)`` for a ``ModelScale``
from ``scales`` ("tiny", "demo", "paper").
"""

from dpt_core.models.blender import Blender, BlendOutput
from dpt_core.models.blocks import (
    IMAGE_RANGE,
    body_mask,
    images_from_model,
    images_to_model,
    iuv_to_input,
)
from dpt_core.models.discriminator import PatchDiscriminator
from dpt_core.models.inpainter import (
    InpainterOutput,
    TextureInpainter,
    atlas_to_parts,
    parts_to_atlas,
)
from dpt_core.models.predictive import PredictiveBranch, PredictiveOutput
from dpt_core.models.scales import SCALES, ModelScale, get_scale
from dpt_core.models.transfer import DensePoseTransfer, TransferOutput
from dpt_core.models.vgg import DEFAULT_LAYERS, VGG19Features, imagenet_normalize
from dpt_core.models.warping import WarpingBranch, WarpingOutput

__all__ = [
    "DEFAULT_LAYERS",
    "IMAGE_RANGE",
    "SCALES",
    "BlendOutput",
    "Blender",
    "DensePoseTransfer",
    "InpainterOutput",
    "ModelScale",
    "PatchDiscriminator",
    "PredictiveBranch",
    "PredictiveOutput",
    "TextureInpainter",
    "TransferOutput",
    "VGG19Features",
    "WarpingBranch",
    "WarpingOutput",
    "atlas_to_parts",
    "body_mask",
    "get_scale",
    "imagenet_normalize",
    "images_from_model",
    "images_to_model",
    "iuv_to_input",
    "parts_to_atlas",
]
