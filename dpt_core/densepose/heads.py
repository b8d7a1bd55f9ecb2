"""DensePose R-CNN network parts: the 8-conv head, the chart predictor and the FPN decoder.

Module and parameter names match detectron2's DensePose project (``body_conv_fcn1..8``,
``ann_index_lowres``, ``index_uv_lowres``, ``u_lowres``, ``v_lowres``, decoder ``p2..p5`` and
``predictor``), so model-zoo checkpoints load with no missing or unexpected keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import fvcore.nn.weight_init as weight_init
import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from torch import nn
from torch.nn import functional as F


def _init_kaiming(module: nn.Module) -> None:
    for name, param in module.named_parameters():
        if "bias" in name:
            nn.init.zeros_(param)
        elif "weight" in name:
            nn.init.kaiming_normal_(param, mode="fan_out", nonlinearity="relu")


@dataclass
class ChartOutputs:
    """Per-box DensePose predictor outputs, all ``(N, C, S, S)`` float on one device.

    ``coarse_segm``: C = 2 (background/person) or 15 (legacy); ``fine_segm``, ``u``, ``v``:
    C = 25 (background + 24 parts); S = heatmap size (112, or 56 for legacy models). Supports
    ``len`` and indexing so detectron2's ``Instances`` can carry it.
    """

    coarse_segm: torch.Tensor
    fine_segm: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor

    def __len__(self) -> int:
        return int(self.coarse_segm.shape[0])

    def __getitem__(self, item: int | slice | torch.Tensor) -> ChartOutputs:
        if isinstance(item, int):
            item = slice(item, item + 1 if item != -1 else None)
        elif isinstance(item, torch.Tensor) and item.dtype == torch.bool and bool(item.all()):
            return self  # detectron2 keeps all boxes: no copy of the heatmaps
        return ChartOutputs(*(t[item] for t in self.tensors()))

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(coarse_segm, fine_segm, u, v)."""
        return self.coarse_segm, self.fine_segm, self.u, self.v

    def to(self, device: torch.device | str) -> ChartOutputs:
        """Copy of the outputs on ``device``."""
        return ChartOutputs(*(t.to(device) for t in self.tensors()))


class DensePoseV1ConvXHead(nn.Module):
    """Fully convolutional head: ``n_convs`` 3x3 convs (``body_conv_fcn1..n``) with ReLU.

    Input ``(N, in_channels, R, R)`` pooled features; output ``(N, hidden_dim, R, R)``.
    """

    def __init__(self, in_channels: int, hidden_dim: int = 512, kernel: int = 3, n_convs: int = 8):
        super().__init__()
        self.n_convs = n_convs
        channels = in_channels
        for i in range(n_convs):
            conv = nn.Conv2d(channels, hidden_dim, kernel, stride=1, padding=kernel // 2)
            self.add_module(f"body_conv_fcn{i + 1}", conv)
            channels = hidden_dim
        self.n_out_channels = channels
        _init_kaiming(self)

    @classmethod
    def from_config(cls, cfg: CfgNode, in_channels: int) -> DensePoseV1ConvXHead:
        head = cfg.MODEL.ROI_DENSEPOSE_HEAD
        return cls(in_channels, head.CONV_HEAD_DIM, head.CONV_HEAD_KERNEL, head.NUM_STACKED_CONVS)

    def forward(self, features_nchw: torch.Tensor) -> torch.Tensor:
        x = features_nchw
        for i in range(self.n_convs):
            x = F.relu(getattr(self, f"body_conv_fcn{i + 1}")(x))
        return x


class DensePoseChartPredictor(nn.Module):
    """Chart predictor: four transposed convs (k, stride 2, pad k/2-1) then ×``up_scale``.

    Input ``(N, in_channels, R, R)``; outputs :class:`ChartOutputs` of spatial size
    ``2 * R * up_scale`` (bilinear upsampling, ``align_corners=False``).
    """

    def __init__(
        self,
        in_channels: int,
        n_coarse_segm: int = 2,
        n_patches: int = 24,
        deconv_kernel: int = 4,
        up_scale: int = 2,
    ):
        super().__init__()

        def deconv(out_channels: int) -> nn.ConvTranspose2d:
            pad = deconv_kernel // 2 - 1
            return nn.ConvTranspose2d(in_channels, out_channels, deconv_kernel, 2, padding=pad)

        self.ann_index_lowres = deconv(n_coarse_segm)
        self.index_uv_lowres = deconv(n_patches + 1)
        self.u_lowres = deconv(n_patches + 1)
        self.v_lowres = deconv(n_patches + 1)
        self.up_scale = up_scale
        _init_kaiming(self)

    @classmethod
    def from_config(cls, cfg: CfgNode, in_channels: int) -> DensePoseChartPredictor:
        head = cfg.MODEL.ROI_DENSEPOSE_HEAD
        return cls(
            in_channels,
            head.NUM_COARSE_SEGM_CHANNELS,
            head.NUM_PATCHES,
            head.DECONV_KERNEL,
            head.UP_SCALE,
        )

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.up_scale, mode="bilinear", align_corners=False)

    def forward(self, head_nchw: torch.Tensor) -> ChartOutputs:
        return ChartOutputs(
            coarse_segm=self._up(self.ann_index_lowres(head_nchw)),
            fine_segm=self._up(self.index_uv_lowres(head_nchw)),
            u=self._up(self.u_lowres(head_nchw)),
            v=self._up(self.v_lowres(head_nchw)),
        )


class DensePoseDecoder(nn.Module):
    """Panoptic-FPN semantic head merging FPN levels into one stride-``common_stride`` map.

    Each level gets ``max(1, log2(stride / common_stride))`` 3x3 conv+ReLU blocks, each followed
    by ×2 bilinear upsampling when the level is coarser; the sum goes through a 1x1
    ``predictor``. Submodules are named after the features (``p2``, ``p3``, ...).
    """

    def __init__(
        self,
        input_shape: dict[str, ShapeSpec],
        in_features: list[str],
        num_classes: int = 256,
        conv_dims: int = 256,
        common_stride: int = 4,
        norm: str = "",
    ):
        super().__init__()
        self.in_features = list(in_features)
        for name in self.in_features:
            head = self._scale_head(input_shape[name], conv_dims, common_stride, norm)
            self.add_module(name, head)
        self.predictor = Conv2d(conv_dims, num_classes, kernel_size=1)
        weight_init.c2_msra_fill(self.predictor)

    @staticmethod
    def _scale_head(
        shape: ShapeSpec, conv_dims: int, common_stride: int, norm: str
    ) -> nn.Sequential:
        n_blocks = max(1, int(np.log2(shape.stride) - np.log2(common_stride)))
        ops: list[nn.Module] = []
        for k in range(n_blocks):
            conv = Conv2d(
                shape.channels if k == 0 else conv_dims,
                conv_dims,
                kernel_size=3,
                padding=1,
                bias=not norm,
                norm=get_norm(norm, conv_dims),
                activation=F.relu,
            )
            weight_init.c2_msra_fill(conv)
            ops.append(conv)
            if shape.stride != common_stride:
                ops.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
        return nn.Sequential(*ops)

    @classmethod
    def from_config(
        cls, cfg: CfgNode, input_shape: dict[str, ShapeSpec], in_features: list[str]
    ) -> DensePoseDecoder:
        head = cfg.MODEL.ROI_DENSEPOSE_HEAD
        return cls(
            input_shape,
            in_features,
            head.DECODER_NUM_CLASSES,
            head.DECODER_CONV_DIMS,
            head.DECODER_COMMON_STRIDE,
            head.DECODER_NORM,
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """``features``: FPN maps in ``in_features`` order → ``(B, num_classes, H/4, W/4)``."""
        x = getattr(self, self.in_features[0])(features[0])
        for name, feature in zip(self.in_features[1:], features[1:], strict=True):
            x = x + getattr(self, name)(feature)
        return self.predictor(x)
