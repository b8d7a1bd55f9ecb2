"""``DensePoseROIHeads``: detectron2's standard box heads plus the DensePose chart branch.

Register it with :func:`register_densepose` (explicit and idempotent) before
``detectron2.modeling.build_model``; importing this module registers nothing.
Inference only: the DensePose losses are not implemented.
"""

from __future__ import annotations

import logging

import torch
from detectron2.config import CfgNode, configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.modeling.poolers import ROIPooler
from detectron2.structures import ImageList, Instances
from torch import nn

from dpt_core.densepose.deeplab import DensePoseDeepLabHead
from dpt_core.densepose.heads import (
    ChartOutputs,
    DensePoseChartPredictor,
    DensePoseDecoder,
    DensePoseV1ConvXHead,
)

logger = logging.getLogger(__name__)

ROI_HEADS_NAME = "DensePoseROIHeads"
HEADS: dict[str, type[DensePoseV1ConvXHead] | type[DensePoseDeepLabHead]] = {
    "DensePoseV1ConvXHead": DensePoseV1ConvXHead,
    "DensePoseDeepLabHead": DensePoseDeepLabHead,
}


class DensePoseROIHeads(StandardROIHeads):
    """Standard R-CNN ROI heads whose detections also get DensePose chart outputs.

    After inference every ``Instances`` carries ``pred_densepose`` (:class:`ChartOutputs`, one
    row per detected box, box-relative). Submodules: ``decoder`` (s1x models only),
    ``densepose_pooler``, ``densepose_head`` (``HEADS[ROI_DENSEPOSE_HEAD.NAME]``),
    ``densepose_predictor``.
    """

    @configurable
    def __init__(
        self,
        *,
        densepose_in_features: list[str],
        densepose_pooler: ROIPooler,
        densepose_head: nn.Module,
        densepose_predictor: nn.Module,
        decoder: nn.Module | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.densepose_in_features = densepose_in_features
        if decoder is not None:
            self.decoder = decoder
        self.use_decoder = decoder is not None
        self.densepose_pooler = densepose_pooler
        self.densepose_head = densepose_head
        self.densepose_predictor = densepose_predictor

    @classmethod
    def from_config(cls, cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> dict:
        ret = super().from_config(cfg, input_shape)
        ret.update(cls._init_densepose_head(cfg, input_shape))
        return ret

    @classmethod
    def _init_densepose_head(cls, cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> dict:
        head_cfg = cfg.MODEL.ROI_DENSEPOSE_HEAD
        in_features = list(cfg.MODEL.ROI_HEADS.IN_FEATURES)
        decoder = None
        if head_cfg.DECODER_ON:
            decoder = DensePoseDecoder.from_config(cfg, input_shape, in_features)
            scales = (1.0 / input_shape[in_features[0]].stride,)
            in_channels = head_cfg.DECODER_NUM_CLASSES
        else:
            scales = tuple(1.0 / input_shape[f].stride for f in in_features)
            in_channels = input_shape[in_features[0]].channels
        pooler = ROIPooler(
            output_size=head_cfg.POOLER_RESOLUTION,
            scales=scales,
            sampling_ratio=head_cfg.POOLER_SAMPLING_RATIO,
            pooler_type=head_cfg.POOLER_TYPE,
        )
        head = HEADS[head_cfg.NAME].from_config(cfg, in_channels)
        return {
            "densepose_in_features": in_features,
            "densepose_pooler": pooler,
            "densepose_head": head,
            "densepose_predictor": DensePoseChartPredictor.from_config(cfg, head.n_out_channels),
            "decoder": decoder,
        }

    def _empty_outputs(self, like: torch.Tensor) -> ChartOutputs:
        predictor = self.densepose_predictor
        size = 2 * self.densepose_pooler.output_size[0] * predictor.up_scale

        def empty(conv: nn.ConvTranspose2d) -> torch.Tensor:
            return like.new_zeros((0, conv.out_channels, size, size))

        return ChartOutputs(
            empty(predictor.ann_index_lowres),
            empty(predictor.index_uv_lowres),
            empty(predictor.u_lowres),
            empty(predictor.v_lowres),
        )

    def _forward_densepose(
        self, features: dict[str, torch.Tensor], instances: list[Instances]
    ) -> list[Instances]:
        feats = [features[f] for f in self.densepose_in_features]
        if sum(len(x) for x in instances) == 0:
            outputs = self._empty_outputs(feats[0])
        else:
            if self.use_decoder:
                feats = [self.decoder(feats)]
            pooled = self.densepose_pooler(feats, [x.pred_boxes for x in instances])
            outputs = self.densepose_predictor(self.densepose_head(pooled))
        start = 0
        for inst in instances:
            inst.pred_densepose = outputs[start : start + len(inst)]
            start += len(inst)
        return instances

    def forward(
        self,
        images: ImageList,
        features: dict[str, torch.Tensor],
        proposals: list[Instances],
        targets: list[Instances] | None = None,
    ) -> tuple[list[Instances], dict]:
        if self.training:
            raise NotImplementedError("DensePoseROIHeads is inference-only (call model.eval())")
        return super().forward(images, features, proposals, targets)

    def forward_with_given_boxes(
        self, features: dict[str, torch.Tensor], instances: list[Instances]
    ) -> list[Instances]:
        instances = super().forward_with_given_boxes(features, instances)
        return self._forward_densepose(features, instances)


def register_densepose() -> None:
    """Register :class:`DensePoseROIHeads` in detectron2's ``ROI_HEADS_REGISTRY`` (idempotent).

    Raises RuntimeError when another class already holds the name (e.g. detectron2's own
    DensePose project was imported), rather than silently building someone else's model.
    """
    if ROI_HEADS_NAME in ROI_HEADS_REGISTRY:
        existing = ROI_HEADS_REGISTRY.get(ROI_HEADS_NAME)
        if existing is not DensePoseROIHeads:
            raise RuntimeError(
                f"ROI_HEADS_REGISTRY already holds {ROI_HEADS_NAME} from {existing.__module__}; "
                "dpt_core.densepose cannot register its own"
            )
        return
    ROI_HEADS_REGISTRY.register(DensePoseROIHeads)
    logger.debug("registered %s in detectron2's ROI_HEADS_REGISTRY", ROI_HEADS_NAME)
