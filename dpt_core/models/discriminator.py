"""PatchGAN discriminator, optionally conditioned on the target IUV.

A stack of 4×4 convolutions (pix2pix's PatchGAN): one stride-2 layer without normalisation,
``n_layers - 1`` more stride-2 layers doubling the width (up to 8×), a stride-1 layer and a
1-channel stride-1 output. Each output logit judges one overlapping patch of the input. With
``conditional=True`` the input is the image concatenated with ``iuv_to_input(target IUV)``, so
the discriminator also judges whether the image fits the pose. Spectral normalisation of every
conv is optional (then no other normalisation is used).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as apply_spectral_norm

from dpt_core.models.blocks import IUV_CHANNELS, check_bchw, iuv_to_input, make_norm
from dpt_core.models.scales import ModelScale


def _conv(in_ch: int, out_ch: int, stride: int, spectral: bool, bias: bool) -> nn.Module:
    conv = nn.Conv2d(in_ch, out_ch, 4, stride=stride, padding=1, bias=bias)
    return apply_spectral_norm(conv) if spectral else conv


class PatchDiscriminator(nn.Module):
    """Logits (B, 1, h, w), one per image patch; real -> high, fake -> low."""

    def __init__(
        self,
        width: int = 64,
        n_layers: int = 3,
        conditional: bool = True,
        spectral_norm: bool = False,
        norm: str = "instance",
    ) -> None:
        super().__init__()
        self.conditional = conditional
        norm = "none" if spectral_norm else norm
        in_channels = 3 + IUV_CHANNELS if conditional else 3
        layers: list[nn.Module] = [
            _conv(in_channels, width, 2, spectral_norm, bias=True),
            nn.LeakyReLU(0.2, True),
        ]
        channels = width
        for i in range(1, n_layers + 1):
            out_ch = width * 2 ** min(i, 3)
            stride = 2 if i < n_layers else 1
            layers += [
                _conv(channels, out_ch, stride, spectral_norm, bias=norm == "none"),
                make_norm(norm, out_ch),
                nn.LeakyReLU(0.2, True),
            ]
            channels = out_ch
        layers.append(_conv(channels, 1, 1, spectral_norm, bias=True))
        self.net = nn.Sequential(*layers)
        self.min_size = 3 * 2**n_layers

    @classmethod
    def from_config(cls, scale: ModelScale) -> PatchDiscriminator:
        """Build from ``scale.discriminator``."""
        d = scale.discriminator
        return cls(d.width, d.n_layers, d.conditional, d.spectral_norm, d.norm)

    def forward(
        self, images_bchw: torch.Tensor, target_iuv_b3hw: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Patch logits for images in [-1, 1]; ``target_iuv_b3hw`` required iff conditional."""
        check_bchw("images_bchw", images_bchw, channels=3)
        if min(images_bchw.shape[2:]) < self.min_size:
            raise ValueError(
                f"images_bchw: at least {self.min_size}×{self.min_size} pixels needed, "
                f"got {tuple(images_bchw.shape[2:])}"
            )
        if self.conditional:
            if target_iuv_b3hw is None:
                raise ValueError("target_iuv_b3hw: required by a conditional discriminator")
            check_bchw("target_iuv_b3hw", target_iuv_b3hw, channels=3, like=images_bchw)
            images_bchw = torch.cat((images_bchw, iuv_to_input(target_iuv_b3hw)), dim=1)
        elif target_iuv_b3hw is not None:
            raise ValueError("target_iuv_b3hw: this discriminator is unconditional")
        return self.net(images_bchw)
