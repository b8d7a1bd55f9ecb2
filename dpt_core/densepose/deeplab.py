"""DensePose DeepLab head (the ``_DL_`` model-zoo checkpoints): ASPP, optional non-local block,
then ``n_convs`` GroupNorm convolutions.

Module and parameter names are detectron2's (``DensePoseDeepLabHead`` in its DensePose
project), so official checkpoints load with no missing or unexpected keys:

* ``ASPP.convs.0``: 1x1 conv (no bias) → GroupNorm(32) → ReLU, keys ``.0.weight``,
  ``.1.weight``, ``.1.bias``; ``ASPP.convs.1..3``: the same with 3x3 convs at dilation 6, 12,
  56; ``ASPP.convs.4``: global average pool → 1x1 conv → GroupNorm → ReLU (keys ``.1``, ``.2``),
  broadcast back; ``ASPP.project.0``: 1x1 conv over the 5 concatenated branches, then ReLU;
* ``NLBlock`` (only with ``DEEPLAB.NONLOCAL_ON``): embedded-Gaussian non-local block, ``theta``
  and ``g.0`` / ``phi.0`` 1x1 convs to half the channels (``g`` and ``phi`` then 2x2
  max-pooled), ``W.0`` 1x1 conv back and ``W.1`` GroupNorm(32), added to the input;
* ``body_conv_fcn1..n``: ``kernel`` convs, each with ``.norm`` GroupNorm(32) and no bias when
  ``DEEPLAB.NORM`` is ``"GN"`` (a bias and no norm when it is ``""``), each followed by ReLU.
"""

from __future__ import annotations

import fvcore.nn.weight_init as weight_init
import torch
from detectron2.config import CfgNode
from detectron2.layers import Conv2d
from torch import nn
from torch.nn import functional as F

ASPP_RATES = (6, 12, 56)
GN_GROUPS = 32
DEEPLAB_NORMS = ("GN", "")


def _conv_gn_relu(in_channels: int, out_channels: int, kernel: int, rate: int = 1) -> list:
    pad = rate if kernel == 3 else 0
    conv = nn.Conv2d(in_channels, out_channels, kernel, padding=pad, dilation=rate, bias=False)
    return [conv, nn.GroupNorm(GN_GROUPS, out_channels), nn.ReLU()]


class _ImagePooling(nn.Sequential):
    """Global average pool → 1x1 conv → GN → ReLU, broadcast back to the input's size."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.AdaptiveAvgPool2d(1), *_conv_gn_relu(in_channels, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = super().forward(x)
        return F.interpolate(pooled, size=x.shape[-2:], mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: ``(N, in, H, W)`` → ``(N, out, H, W)``."""

    def __init__(self, in_channels: int, rates: tuple[int, ...], out_channels: int):
        super().__init__()
        branches: list[nn.Module] = [nn.Sequential(*_conv_gn_relu(in_channels, out_channels, 1))]
        for rate in rates:
            branches.append(nn.Sequential(*_conv_gn_relu(in_channels, out_channels, 3, rate)))
        branches.append(_ImagePooling(in_channels, out_channels))
        self.convs = nn.ModuleList(branches)
        n_cat = len(branches) * out_channels
        self.project = nn.Sequential(nn.Conv2d(n_cat, out_channels, 1, bias=False), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))


class NonLocalBlock2D(nn.Module):
    """Embedded-Gaussian non-local block with 2x2 sub-sampling; ``(N, C, H, W)`` in and out.

    Starts as the identity: the GroupNorm after ``W`` is initialised to zero.
    """

    def __init__(self, in_channels: int):
        super().__init__()
        self.inter_channels = max(in_channels // 2, 1)
        inter = self.inter_channels
        self.g = nn.Sequential(nn.Conv2d(in_channels, inter, 1), nn.MaxPool2d(2))
        self.W = nn.Sequential(
            nn.Conv2d(inter, in_channels, 1), nn.GroupNorm(GN_GROUPS, in_channels)
        )
        nn.init.zeros_(self.W[1].weight)
        nn.init.zeros_(self.W[1].bias)
        self.theta = nn.Conv2d(in_channels, inter, 1)
        self.phi = nn.Sequential(nn.Conv2d(in_channels, inter, 1), nn.MaxPool2d(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        queries = self.theta(x).flatten(2).transpose(1, 2)  # (N, HW, C')
        keys = self.phi(x).flatten(2)  # (N, C', HW/4)
        values = self.g(x).flatten(2).transpose(1, 2)  # (N, HW/4, C')
        attention = F.softmax(queries @ keys, dim=-1)
        y = (attention @ values).transpose(1, 2).reshape(n, self.inter_channels, h, w)
        return self.W(y) + x


class DensePoseDeepLabHead(nn.Module):
    """DeepLabV3-style DensePose head: ``(N, in_channels, R, R)`` → ``(N, hidden_dim, R, R)``."""

    def __init__(
        self,
        in_channels: int,
        hidden_dim: int = 512,
        kernel: int = 3,
        n_convs: int = 8,
        norm: str = "GN",
        use_nonlocal: bool = False,
    ):
        super().__init__()
        if norm not in DEEPLAB_NORMS:
            raise ValueError(f"DEEPLAB.NORM: expected one of {DEEPLAB_NORMS}, got {norm!r}")
        if in_channels % GN_GROUPS or (norm and hidden_dim % GN_GROUPS):
            raise ValueError(f"DeepLab head: GroupNorm needs channels divisible by {GN_GROUPS}")
        self.n_convs = n_convs
        self.use_nonlocal = bool(use_nonlocal)
        self.ASPP = ASPP(in_channels, ASPP_RATES, in_channels)
        if self.use_nonlocal:
            self.NLBlock = NonLocalBlock2D(in_channels)
        channels = in_channels
        for i in range(n_convs):
            gn = nn.GroupNorm(GN_GROUPS, hidden_dim) if norm else None
            conv = Conv2d(channels, hidden_dim, kernel, padding=kernel // 2, bias=not norm, norm=gn)
            weight_init.c2_msra_fill(conv)
            self.add_module(f"body_conv_fcn{i + 1}", conv)
            channels = hidden_dim
        self.n_out_channels = hidden_dim

    @classmethod
    def from_config(cls, cfg: CfgNode, in_channels: int) -> DensePoseDeepLabHead:
        head = cfg.MODEL.ROI_DENSEPOSE_HEAD
        return cls(
            in_channels,
            head.CONV_HEAD_DIM,
            head.CONV_HEAD_KERNEL,
            head.NUM_STACKED_CONVS,
            head.DEEPLAB.NORM,
            bool(head.DEEPLAB.NONLOCAL_ON),
        )

    def forward(self, features_nchw: torch.Tensor) -> torch.Tensor:
        x = self.ASPP(features_nchw)
        if self.use_nonlocal:
            x = self.NLBlock(x)
        for i in range(self.n_convs):
            x = F.relu(getattr(self, f"body_conv_fcn{i + 1}")(x))
        return x
