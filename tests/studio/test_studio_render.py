"""Rendering: exact agreement of RGB, IUV, mask, depth and atlas; holes; coverage; determinism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dpt_core.atlas import gather, gather_torch
from dpt_core.studio import make_identity, make_scene, render_samples, render_scenes


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


def test_unlit_body_pixels_are_the_atlas_gathered_through_the_iuv(unlit_batch):
    body = unlit_batch.iuv[:, 0] > 0
    assert body.sum() > 3000
    for b in range(len(unlit_batch)):
        atlas = _hwc(unlit_batch.atlases[unlit_batch.atlas_index[b]])
        gathered = gather(atlas, _hwc(unlit_batch.iuv[b]))
        assert np.array_equal(gathered[body[b].numpy()], _hwc(unlit_batch.rgb[b])[body[b].numpy()])
    batched = gather_torch(unlit_batch.sample_atlases(), unlit_batch.iuv)
    mask3 = body[:, None].expand(-1, 3, -1, -1)
    assert torch.equal(batched[mask3], unlit_batch.rgb[mask3])


def test_consistency_holds_at_256_pixels_with_background():
    batch = render_samples(
        identities=1, poses=1, views=2, size=256, seed=11, lit=False, clothing="none"
    )
    for b in range(len(batch)):
        iuv = _hwc(batch.iuv[b])
        body = iuv[..., 0] > 0
        assert body.sum() > 4000
        gathered = gather(_hwc(batch.atlases[0]), iuv)
        assert np.array_equal(gathered[body], _hwc(batch.rgb[b])[body])
        assert (_hwc(batch.rgb[b])[~batch.mask[b, 0].numpy()] > 0).any()  # textured background


def test_lit_mode_only_shades_the_atlas_colour(lit_batch, unlit_batch):
    body = (unlit_batch.iuv[:, 0] > 0)[:, None].expand(-1, 3, -1, -1)
    lit, albedo = lit_batch.rgb[body].float(), unlit_batch.rgb[body].float()
    assert torch.equal(lit_batch.iuv, unlit_batch.iuv)
    assert (lit <= albedo * 1.15 + 1).all() and (lit >= albedo * 0.35 - 1).all()
    assert (lit != albedo).float().mean() > 0.5


def test_iuv_mask_and_depth_agree(lit_batch):
    part, u, v = lit_batch.iuv[:, 0], lit_batch.iuv[:, 1], lit_batch.iuv[:, 2]
    mask, depth = lit_batch.mask[:, 0], lit_batch.depth[:, 0]
    assert part.max() <= 24
    assert ((u == 0) & (v == 0))[part == 0].all()
    assert mask[part > 0].all()
    assert torch.equal(depth > 0, mask)
    assert depth[mask].min() > 2.0 and depth[mask].max() < 8.0


def test_hair_and_loose_clothes_are_in_the_mask_but_carry_no_part_with_clothing_none():
    ident = next(make_identity(i, 0) for i in range(50) if "skirt_long" in _extras(i))
    scenes = [make_scene(ident, 0, v, 4) for v in range(4)]
    bare = [make_scene(dataclasses.replace(ident, extras=()), 0, v, 4) for v in range(4)]
    dressed, body = render_scenes(scenes, 64, clothing="none"), render_scenes(bare, 64)
    off_body = dressed.mask[:, 0] & (dressed.iuv[:, 0] == 0)
    assert off_body.float().sum() > 0.15 * dressed.mask.float().sum()
    assert torch.equal(body.mask[:, 0], body.iuv[:, 0] > 0)  # without extras: mask == I > 0


def test_clothes_are_labelled_as_the_body_beneath_them_by_default():
    ident = next(make_identity(i, 0) for i in range(50) if "skirt_long" in _extras(i))
    scenes = [make_scene(ident, 0, v, 4) for v in range(4)]
    bare = [make_scene(dataclasses.replace(ident, extras=()), 0, v, 4) for v in range(4)]
    dressed, none = render_scenes(scenes, 64), render_scenes(scenes, 64, clothing="none")
    body = render_scenes(bare, 64)
    assert torch.equal(dressed.rgb, none.rgb) and torch.equal(dressed.mask, none.mask)
    exposed = none.iuv[:, :1] > 0  # the body is in front: same label either way
    assert torch.equal(dressed.iuv * exposed, none.iuv * exposed)
    covered = dressed.mask & ~exposed & body.mask  # clothes or hair with the body behind
    assert covered.float().sum() > 0.1 * dressed.mask.float().sum()
    assert torch.equal(dressed.iuv * covered, body.iuv * covered)  # the body-only render's IUV
    assert torch.equal(dressed.iuv[:, :1] > 0, exposed | covered)  # I = 0 only with no body


def _extras(index: int) -> set[str]:
    from dpt_core.studio.parts import SURFACES

    return {SURFACES[i].name for i in make_identity(index, 0).extras}


def _neighbours(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Up, down, left and right neighbours of the interior pixels of (B, H, W)."""
    return x[:, :-2, 1:-1], x[:, 2:, 1:-1], x[:, 1:-1, :-2], x[:, 1:-1, 2:]


def test_no_holes_and_no_see_through_pixels():
    batch = render_samples(identities=2, poses=2, views=3, size=128, seed=2)
    part, depth, mask = batch.iuv[:, 0].long(), batch.depth[:, 0], batch.mask[:, 0]
    up, down, left, right = _neighbours(part)
    enclosed = (up == down) & (up == left) & (up == right) & (up > 0)
    centre = part[:, 1:-1, 1:-1]
    assert not (enclosed & ~mask[:, 1:-1, 1:-1]).any(), "background pixel inside a part"
    nearest = torch.stack(_neighbours(depth)).amax(0)
    deeper = enclosed & (centre != up) & (depth[:, 1:-1, 1:-1] > nearest + 0.01)
    assert not deeper.any(), "a farther surface shows through a part"


def test_every_part_appears_and_charts_are_covered(body_only_scenes):
    batch = render_scenes(body_only_scenes, 128)
    part, u, v = (batch.iuv[:, k].long() for k in range(3))
    assert set(part.unique().tolist()) == set(range(25))
    bins = 16
    for p in range(1, 25):
        m = part == p
        cells = (u[m] * bins // 256) * bins + v[m] * bins // 256
        assert cells.unique().numel() / bins**2 >= 0.6, f"part {p}"


@pytest.mark.determinism
def test_rendering_is_deterministic_and_independent_of_the_batch(scenes_seed5, lit_batch):
    again = render_scenes(scenes_seed5[:6], 64, clothing="none")
    alone = render_scenes([scenes_seed5[3]], 64, clothing="none")
    for field in ("rgb", "iuv", "mask", "depth"):
        assert torch.equal(getattr(again, field), getattr(lit_batch, field)[:6])
        assert torch.equal(getattr(alone, field)[0], getattr(lit_batch, field)[3])
    assert alone.keys == ("id00000_p000_v03",)


def test_identities_differ(lit_batch):
    a, b = lit_batch.atlases[0], lit_batch.atlases[1]
    assert (a != b).any(0).float().mean() > 0.3
    assert lit_batch.identity.tolist() == [0] * 8 + [1] * 8 + [2] * 8
    assert lit_batch.atlas_identity.tolist() == [0, 1, 2]
    person = lit_batch.mask[0:8, 0] | lit_batch.mask[8:16, 0]  # same pose and view indices
    differs = (lit_batch.rgb[0:8] != lit_batch.rgb[8:16]).any(1)
    assert differs[person].float().mean() > 0.5


def test_texture_detail_makes_blur_measurable():
    """A 3×3 binomial blur changes body pixels by far more than quantisation (PSNR < 28 dB)."""
    batch = render_samples(identities=3, poses=1, views=2, size=128, seed=1)
    x = batch.rgb.float()
    kernel = torch.tensor([1.0, 2.0, 1.0])
    kernel = (kernel[:, None] * kernel[None, :] / 16)[None, None]
    blurred = F.conv2d(x.reshape(-1, 1, 128, 128), kernel, padding=1).reshape(x.shape)
    body = (batch.iuv[:, 0:1] > 0).expand_as(x)
    psnr = 10 * torch.log10(255**2 / ((x - blurred)[body] ** 2).mean())
    assert psnr < 28


def test_sizes_and_bad_arguments(scenes_seed5):
    threads = torch.get_num_threads()
    batch = render_scenes(scenes_seed5[:1], (48, 80))
    assert batch.rgb.shape == (1, 3, 48, 80) and batch.rgb.dtype == torch.uint8
    assert batch.iuv.shape == (1, 3, 48, 80) and batch.mask.dtype == torch.bool
    assert batch.depth.shape == (1, 1, 48, 80) and batch.depth.dtype == torch.float32
    assert batch.atlases.shape == (1, 3, 1200, 800)
    assert torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="size"):
        render_scenes(scenes_seed5[:1], 4)
    with pytest.raises(ValueError, match="scenes"):
        render_scenes([], 64)
    with pytest.raises(ValueError, match="spacing_px"):
        render_scenes(scenes_seed5[:1], 64, spacing_px=2.0)
    with pytest.raises(ValueError, match="views"):
        render_samples(identities=1, poses=1, views=0)


def test_a_photo_shoot_shares_background_and_light_across_poses_and_views():
    ident = make_identity(2, 0)
    shoot = [make_scene(ident, p, v, 4) for p in range(2) for v in range(4)]
    assert len({s.background_seed for s in shoot}) == 1 and len({s.light for s in shoot}) == 1
    crowd = [make_scene(ident, p, v, 4, mode="random") for p in range(2) for v in range(4)]
    assert len({s.background_seed for s in crowd}) == len(crowd)
    other = make_scene(make_identity(3, 0), 0, 0, 4)
    assert other.background_seed != shoot[0].background_seed
    with pytest.raises(ValueError, match="mode"):
        make_scene(ident, 0, 0, 4, mode="studio")
