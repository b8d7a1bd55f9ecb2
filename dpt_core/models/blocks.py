"""Building blocks shared by the networks, and the tensor conventions they use.

Conventions (every model in ``dpt_core.models``):

* images are float ``(B, 3, H, W)`` RGB in **[-1, 1]** (``images_to_model`` / ``images_from_model``
  convert from and to [0, 1]); generators end in ``tanh``;
* IUV tensors are ``(B, 3, H, W)`` holding (I, U·255, V·255) in any integer or float dtype, as
  ``dpt_core.atlas`` takes them; networks see them through ``iuv_to_input`` as ``IUV_CHANNELS``
  channels: the part as a one-hot code (24 channels, all 0 off the body), then U and V in [0, 1];
* atlases are ``(B, C, 6n, 4n)`` in the layout of ``dpt_core.atlas``.
"""

from __future__ import annotations

import torch
from torch import nn

from dpt_core.iuv import N_PARTS

IMAGE_RANGE = (-1.0, 1.0)
"""Value range of every image a model takes or returns."""


def images_to_model(images_01: torch.Tensor) -> torch.Tensor:
    """[0, 1] images -> the models' [-1, 1] range (any shape)."""
    return images_01 * 2.0 - 1.0


def images_from_model(images_pm1: torch.Tensor) -> torch.Tensor:
    """The models' [-1, 1] images -> [0, 1], clamped (any shape)."""
    return ((images_pm1 + 1.0) * 0.5).clamp(0.0, 1.0)


def clamp_image(x: torch.Tensor) -> torch.Tensor:
    """``x`` clamped to ``IMAGE_RANGE`` in the forward pass, with the identity's gradient.

    A plain clamp has no gradient beyond its bounds, so an output that drifts past ±1 can never
    be pulled back by the loss: the inpainter's residual on one part grew to ±300 in a 400-step
    run and that part stayed a flat saturated colour (issue #19). Passing the gradient through
    lets the loss act on it; the values are those of a plain clamp.
    """
    return clamp_through(x, *IMAGE_RANGE)


def clamp_through(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """``x.clamp(lo, hi)`` in the forward pass, the identity's gradient in the backward pass."""
    return x + (x.clamp(lo, hi) - x).detach()


def check_bchw(
    name: str,
    tensor: object,
    channels: int | None = None,
    like: torch.Tensor | None = None,
) -> torch.Tensor:
    """Raise ValueError naming ``name`` unless ``tensor`` is a (B, C, H, W) tensor.

    ``channels`` fixes C; ``like`` requires the same batch size and spatial size as ``like``.
    """
    if not isinstance(tensor, torch.Tensor) or tensor.ndim != 4:
        shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise ValueError(f"{name}: expected a (B, C, H, W) tensor, got {shape}")
    if channels is not None and tensor.shape[1] != channels:
        raise ValueError(f"{name}: expected {channels} channels, got shape {tuple(tensor.shape)}")
    if like is not None and (
        tensor.shape[0] != like.shape[0] or tensor.shape[2:] != like.shape[2:]
    ):
        raise ValueError(
            f"{name}: batch/size {tuple(tensor.shape)} does not match {tuple(like.shape)}"
        )
    return tensor


IUV_CHANNELS = N_PARTS + 2
"""Channels of ``iuv_to_input``: one-hot part (24), U, V."""


def iuv_to_input(iuv_b3hw: torch.Tensor) -> torch.Tensor:
    """(I, U·255, V·255) IUV -> float network input (B, ``IUV_CHANNELS``, H, W) in [0, 1]: a
    one-hot part code (0 on the background), then U and V.

    Parts are categories, not magnitudes: a single I/24 channel made the head (I = 23, 24) the
    most extreme input of the network, and short trainings painted a saturated blob there.
    """
    check_bchw("iuv_b3hw", iuv_b3hw, channels=3)
    iuv = iuv_b3hw.float() if not iuv_b3hw.is_floating_point() else iuv_b3hw
    part = iuv[:, :1].round()
    ids = torch.arange(1, N_PARTS + 1, device=iuv.device, dtype=iuv.dtype).view(1, -1, 1, 1)
    return torch.cat(((part == ids).to(iuv.dtype), iuv[:, 1:] / 255.0), dim=1)


def body_mask(iuv_b3hw: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) float 1.0 where the IUV has a body part (I > 0), else 0.0."""
    check_bchw("iuv_b3hw", iuv_b3hw, channels=3)
    part = iuv_b3hw[:, :1]
    part = part.round() if part.is_floating_point() else part
    return (part > 0).float()


def person_hole(iuv_b3hw: torch.Tensor, margin: float = 1 / 32) -> torch.Tensor:
    """(B, 1, H, W) 1.0 on the body (I > 0) dilated by ``margin``·H pixels (hair and loose
    clothing around it carry I = 0), else 0.0: where the person of this IUV's image may be."""
    r = max(1, round(iuv_b3hw.shape[2] * margin))
    return nn.functional.max_pool2d(body_mask(iuv_b3hw), 2 * r + 1, stride=1, padding=r)


def make_norm(kind: str, channels: int) -> nn.Module:
    """A per-channel normalisation layer: "instance" (affine), "batch" or "none"."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm: expected 'instance', 'batch' or 'none', got {kind!r}")


def conv_block(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    norm: str = "instance",
    groups: int = 1,
) -> nn.Sequential:
    """Conv (same padding, reflect) -> norm -> ReLU."""
    return nn.Sequential(
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            padding_mode="reflect" if kernel_size > 1 else "zeros",
            groups=groups,
            bias=norm == "none",
        ),
        make_norm(norm, out_channels),
        nn.ReLU(inplace=True),
    )


class ResBlock(nn.Module):
    """Residual block: x + (conv3x3 -> norm -> ReLU -> conv3x3 -> norm)(x), channels unchanged.

    ``groups`` > 1 keeps channel groups independent (the inpainter's per-part blocks).
    """

    def __init__(self, channels: int, norm: str = "instance", groups: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_block(channels, channels, norm=norm, groups=groups),
            nn.Conv2d(
                channels,
                channels,
                3,
                padding=1,
                padding_mode="reflect",
                groups=groups,
                bias=norm == "none",
            ),
            make_norm(norm, channels),
        )

    def forward(self, x_bchw: torch.Tensor) -> torch.Tensor:
        return x_bchw + self.body(x_bchw)


class Upsample(nn.Module):
    """Nearest-neighbour ×2 upsampling followed by a conv block (no checkerboard artefacts)."""

    def __init__(
        self, in_channels: int, out_channels: int, norm: str = "instance", groups: int = 1
    ) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = conv_block(in_channels, out_channels, norm=norm, groups=groups)

    def forward(self, x_bchw: torch.Tensor) -> torch.Tensor:
        return self.conv(self.up(x_bchw))
