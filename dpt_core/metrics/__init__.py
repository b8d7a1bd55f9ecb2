"""Evaluation metrics: per-image (SSIM, MS-SSIM, PSNR, L1, LPIPS), per-set (FID, IS), texture;
``agreement`` of two renders against the promised ``RENDER_TOLERANCE``.

Learned metrics need weights the user configures (``MetricWeights``); without them they are
reported as ``"not computed: <reason>"`` rather than guessed. Nothing is ever downloaded.
"""

from dpt_core.metrics._common import MetricWeights, NotComputed
from dpt_core.metrics.agreement import (
    CUDA_RENDER_TOLERANCE,
    RENDER_TOLERANCE,
    Agreement,
    Tolerance,
    agreement,
    assert_agree,
)
from dpt_core.metrics.fid import (
    FeatureStats,
    collect_stats,
    compute_set_metrics,
    frechet_distance,
    inception_score,
)
from dpt_core.metrics.image import (
    MS_SSIM_MIN_SIDE,
    apply_mask,
    as_images_bchw,
    as_mask_b1hw,
    l1,
    ms_ssim,
    mse,
    psnr,
    ssim,
)
from dpt_core.metrics.inception import FidInception, load_inception
from dpt_core.metrics.lpips import LPIPS, load_lpips
from dpt_core.metrics.table import (
    IMAGE_COLUMNS,
    MASK_COLUMNS,
    WHOLE_IMAGE_COLUMNS,
    compute_image_metrics,
    compute_image_metrics_batch,
)
from dpt_core.metrics.texture import (
    mean_part_colour_fill,
    mirrored_part_fill,
    nearest_view_fill,
    nearest_visible_fill,
    observed_atlas,
    part_map,
    push_pull_fill,
    strip_fill,
    texture_completion_error,
    texture_error_by_part,
)

__all__ = [
    "CUDA_RENDER_TOLERANCE",
    "IMAGE_COLUMNS",
    "LPIPS",
    "MASK_COLUMNS",
    "MS_SSIM_MIN_SIDE",
    "RENDER_TOLERANCE",
    "WHOLE_IMAGE_COLUMNS",
    "Agreement",
    "FeatureStats",
    "FidInception",
    "MetricWeights",
    "NotComputed",
    "Tolerance",
    "agreement",
    "apply_mask",
    "as_images_bchw",
    "as_mask_b1hw",
    "assert_agree",
    "collect_stats",
    "compute_image_metrics",
    "compute_image_metrics_batch",
    "compute_set_metrics",
    "frechet_distance",
    "inception_score",
    "l1",
    "load_inception",
    "load_lpips",
    "mean_part_colour_fill",
    "mirrored_part_fill",
    "ms_ssim",
    "mse",
    "nearest_view_fill",
    "nearest_visible_fill",
    "observed_atlas",
    "part_map",
    "psnr",
    "push_pull_fill",
    "ssim",
    "strip_fill",
    "texture_completion_error",
    "texture_error_by_part",
]
