"""The texture inpainting autoencoder of the warping branch.

It completes a partial UV atlas (source pixels scattered through the source IUV) into a full
one. Following the paper, **each of the 24 body parts has its own encoder**: the part tiles are
stacked in the channel dimension (part-contiguous, ``(B, 24·C, n, n)``) and every encoder layer
is a grouped convolution with ``groups=24``, so the 24 encoders run as one batched conv and
never mix parts. Their bottleneck codes are concatenated and projected by a linear layer to a
``global_dim``-d (256 in the paper) embedding of the whole body, which is concatenated back into
every part's code before decoding, so each part sees the whole person.

Decoder: the paper decodes every part with its own decoder as well; that is our default
(grouped convolutions again). ``shared_decoder=True`` runs one decoder over the 24 parts
folded into the batch instead (fewer weights, same compute). The decoder has per-part U-Net
skips from its own encoder.

Visible texels: with ``keep_visible=True`` (default) the output atlas copies the observed
texels, ``out = vis·partial + (1 - vis)·predicted``, so the network only fills in the rest;
with ``False`` it must learn to reproduce them (and may smooth seams at partial-part borders).

Hints (``hints=True``, the shipped default): besides its own visible texels and visibility,
each part's encoder sees the mean colour of its visible texels (broadcast over the tile, with a
flag saying whether it saw any) and its partner tile — the mirrored part (left <-> right,
``iuv.MIRROR_PART``) or, for the torso, the other torso half — with that tile's visibility.
The paper leaves the inpainter's inputs open; these are what the simple baselines use (mean
part colour, mirrored part), so the network starts from what they know instead of having to
discover it through 24 separate encoders, and the global embedding adds the rest.

Fill prior (``fill_prior=True``, the shipped default): the network predicts a residual on the
strip fill of the visible texels (``texture_fill``: the row's mean colour across both halves of a
limb, the torso or the head; push-pull elsewhere — local colours near the seen region, the part
mean far from it, the partner part where a part is unseen). Its last layer starts at zero,
so an untrained inpainter already is that fill and training only has to learn what the fill gets
wrong (pattern, shading, which colour lies across a seam). The sum is clamped to [-1, 1] with the
gradient passed through (``blocks.clamp_image``), so a part pushed past the bound is pulled back.
Without the prior the randomly initialised decoder starts from noise and, at the step budgets a
CPU affords, never catches up with the simple baselines (measured: ``benchmarks/RESULTS.md``,
issue #19).

Per-part widths double per level from ``part_width`` and stop growing at 8·``part_width``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from dpt_core.atlas import atlas_shape
from dpt_core.iuv import N_PARTS
from dpt_core.models.blocks import ResBlock, Upsample, check_bchw, clamp_image, conv_block
from dpt_core.models.scales import ModelScale
from dpt_core.texture_fill import PARTNER, atlas_to_parts, parts_to_atlas, strip_fill_parts


class InpainterOutput(NamedTuple):
    """``atlas``: (B, 3, 6n, 4n) in [-1, 1]; ``features``: (B, feature_channels, 6n, 4n)."""

    atlas: torch.Tensor
    features: torch.Tensor


HINT_CHANNELS = 11  # per part: mean colour (3), seen-any flag (1), partner colour + vis (4),
# strip fill (3)


def part_hints(parts_bpcnn: torch.Tensor, fill: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 24, 4, n, n) masked colour + visibility per part -> (B, 24, 11, n, n) hints: mean
    visible colour and a seen-any flag, broadcast; the partner tile's colour and visibility; the
    strip fill (``texture_fill``; pass ``fill`` when already computed)."""
    rgb, vis = parts_bpcnn[:, :, :3], parts_bpcnn[:, :, 3:]
    count = vis.sum((-1, -2), keepdim=True)
    mean = rgb.sum((-1, -2), keepdim=True) / count.clamp_min(1.0)
    seen = (count > 0).to(rgb.dtype)
    flat = torch.cat((mean, seen), dim=2).expand(-1, -1, -1, *rgb.shape[-2:])
    partner = parts_bpcnn[:, list(PARTNER)]
    if fill is None:
        fill = strip_fill_parts(rgb, vis)
    return torch.cat((flat, partner, fill), dim=2)


def _cat_groups(a_bchw: torch.Tensor, b_bchw: torch.Tensor, groups: int) -> torch.Tensor:
    """Concatenate channels group by group, keeping a part-contiguous layout."""
    bsz, _, h, w = a_bchw.shape
    a = a_bchw.reshape(bsz, groups, -1, h, w)
    b = b_bchw.reshape(bsz, groups, -1, h, w)
    return torch.cat((a, b), dim=2).reshape(bsz, -1, h, w)


class TextureInpainter(nn.Module):
    """Per-part encoders, a global body embedding and per-part (or shared) decoders."""

    def __init__(
        self,
        atlas_n: int,
        part_width: int = 16,
        n_down: int = 4,
        global_dim: int = 256,
        feature_channels: int = 16,
        shared_decoder: bool = False,
        keep_visible: bool = True,
        norm: str = "instance",
        hints: bool = True,
        fill_prior: bool = True,
    ) -> None:
        super().__init__()
        self.hints, self.fill_prior = hints, fill_prior
        if atlas_n % 2**n_down or atlas_n // 2**n_down < 2:
            raise ValueError(
                f"atlas_n: {atlas_n} must be a multiple of 2**n_down={2**n_down} and leave "
                "a bottleneck of at least 2×2 texels"
            )
        self.atlas_n, self.n_down, self.keep_visible = atlas_n, n_down, keep_visible
        self.feature_channels = feature_channels
        widths = [part_width * 2 ** min(i, 3) for i in range(n_down + 1)]
        self._build_encoder(widths, global_dim, norm)
        self._build_decoder(widths, global_dim, shared_decoder, norm)

    def _build_encoder(self, widths: list[int], global_dim: int, norm: str) -> None:
        """24 encoders as grouped convs, then the linear projection of all codes to one."""
        p = N_PARTS
        side = self.atlas_n // 2**self.n_down
        in_per_part = 4 + (HINT_CHANNELS if self.hints else 0)
        self.stem = conv_block(p * in_per_part, p * widths[0], norm=norm, groups=p)
        self.downs = nn.ModuleList(
            nn.Sequential(
                conv_block(p * widths[i], p * widths[i + 1], stride=2, norm=norm, groups=p),
                ResBlock(p * widths[i + 1], norm=norm, groups=p),
            )
            for i in range(self.n_down)
        )
        self.to_global = nn.Sequential(
            nn.Flatten(), nn.Linear(p * widths[-1] * side * side, global_dim), nn.ReLU(True)
        )

    def _build_decoder(self, widths: list[int], global_dim: int, shared: bool, norm: str) -> None:
        """groups=24 on the part-contiguous layout, or one decoder with the parts in the batch."""
        g = self.dec_groups = 1 if shared else N_PARTS
        m = g  # channels are per part times the number of decoders side by side
        self.merge = conv_block(
            m * (widths[-1] + global_dim), m * widths[-1], 1, norm=norm, groups=g
        )
        levels = list(reversed(range(self.n_down)))
        self.ups = nn.ModuleList(
            Upsample(m * widths[i + 1], m * widths[i], norm=norm, groups=g) for i in levels
        )
        self.fuses = nn.ModuleList(
            nn.Sequential(
                conv_block(2 * m * widths[i], m * widths[i], norm=norm, groups=g),
                ResBlock(m * widths[i], norm=norm, groups=g),
            )
            for i in levels
        )
        rgb = nn.Conv2d(m * widths[0], m * 3, 3, padding=1, groups=g)
        if self.fill_prior:  # a residual on the strip fill, starting at exactly that fill
            nn.init.zeros_(rgb.weight)
            nn.init.zeros_(rgb.bias)
        self.to_rgb = nn.Sequential(rgb) if self.fill_prior else nn.Sequential(rgb, nn.Tanh())
        self.to_features = nn.Conv2d(m * widths[0], m * self.feature_channels, 1, groups=g)

    @classmethod
    def from_config(cls, scale: ModelScale) -> TextureInpainter:
        """Build from ``scale.atlas_n`` and ``scale.inpainter``."""
        c = scale.inpainter
        return cls(
            scale.atlas_n,
            c.part_width,
            c.n_down,
            c.global_dim,
            c.feature_channels,
            c.shared_decoder,
            c.keep_visible,
            c.norm,
            c.hints,
            c.fill_prior,
        )

    def _fold(self, x_bchw: torch.Tensor) -> torch.Tensor:
        """Part-contiguous (B, 24·C, h, w) -> the decoder's layout."""
        if self.dec_groups == 1:
            return x_bchw.reshape(-1, x_bchw.shape[1] // N_PARTS, *x_bchw.shape[2:])
        return x_bchw

    def _unfold(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        """The decoder's layout -> (B, 24, C, h, w)."""
        return x.reshape(batch, N_PARTS, -1, *x.shape[2:])

    def forward(
        self, partial_atlas_bchw: torch.Tensor, visibility_b1hw: torch.Tensor
    ) -> InpainterOutput:
        """Complete a partial atlas (B, 3, 6n, 4n) in [-1, 1] given its 0/1 visibility (B, 1, ·)."""
        check_bchw("partial_atlas_bchw", partial_atlas_bchw, channels=3)
        check_bchw("visibility_b1hw", visibility_b1hw, channels=1, like=partial_atlas_bchw)
        expected = atlas_shape(self.atlas_n)
        if tuple(partial_atlas_bchw.shape[2:]) != expected:
            raise ValueError(
                f"partial_atlas_bchw: expected a {expected} atlas (n={self.atlas_n}), "
                f"got {tuple(partial_atlas_bchw.shape[2:])}"
            )
        b = partial_atlas_bchw.shape[0]
        vis = visibility_b1hw.to(partial_atlas_bchw.dtype)
        x = atlas_to_parts(torch.cat((partial_atlas_bchw * vis, vis), dim=1))
        fill = strip_fill_parts(x[:, :, :3], x[:, :, 3:])
        if self.hints:
            x = torch.cat((x, part_hints(x, fill)), dim=2)
        x = self.stem(x.reshape(b, -1, self.atlas_n, self.atlas_n))
        skips = []
        for down in self.downs:
            skips.append(x)
            x = down(x)
        global_bg = self.to_global(x)
        code = global_bg[:, None, :, None, None].expand(-1, N_PARTS, -1, *x.shape[2:])
        x = torch.cat((x.reshape(b, N_PARTS, -1, *x.shape[2:]), code), dim=2)
        x = self.merge(self._fold(x.reshape(b, -1, *x.shape[3:])))
        for up, fuse, skip in zip(self.ups, self.fuses, reversed(skips), strict=True):
            x = fuse(_cat_groups(up(x), self._fold(skip), self.dec_groups))
        rgb_parts = self._unfold(self.to_rgb(x), b)
        if self.fill_prior:
            rgb_parts = clamp_image(fill + rgb_parts)
        rgb = parts_to_atlas(rgb_parts)
        features = parts_to_atlas(self._unfold(self.to_features(x), b))
        if self.keep_visible:
            rgb = vis * partial_atlas_bchw + (1.0 - vis) * rgb
        return InpainterOutput(rgb, features)
