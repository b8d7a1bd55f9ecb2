"""Augmented person re-identification data sets: each identity rendered in new poses.

Modules by role: ``market`` (Market-1501 names, the code reserved for generated images),
``config`` (the typed settings), ``sources`` (SRC: a Market-1501 folder or a sharded data set,
and its IUVs), ``bank`` (target poses), ``plan`` (sources and targets per identity), ``crop``
(square model frame <-> re-id box), ``originals`` (DST's untouched files), ``stage`` (the
stage) and ``cli`` (``dpt reid-augment``); for measuring what augmentation buys,
``studio_market`` (a Market-1501 tree rendered by the studio, the no-test-source check) and
``evaluation`` (Market-1501 rank-1 / mAP)::

    from dpt_core.reid import AugmentConfig, augment_reid
    summary = augment_reid(AugmentConfig(src, dst, pose_bank, checkpoint, per_identity=4,
                                         iuv_source="precomputed", precomputed_url=iuvs))
"""

from dpt_core.reid.config import AugmentConfig
from dpt_core.reid.market import generated_name, is_generated, parse_name
from dpt_core.reid.plan import AugmentPlan
from dpt_core.reid.stage import (
    AugmentSummary,
    augment_reid,
    augment_shard,
    copy_originals,
    finalize_augment,
    prepare,
)

__all__ = [
    "AugmentConfig",
    "AugmentPlan",
    "AugmentSummary",
    "augment_reid",
    "augment_shard",
    "copy_originals",
    "finalize_augment",
    "generated_name",
    "is_generated",
    "parse_name",
    "prepare",
]
