"""``models.reach``: the source's hair and clothing carried along the body's flow, and the
blender's share of it."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from dpt_core.models import Blender, body_mask
from dpt_core.models.blender import source_hint
from dpt_core.models.blocks import person_hole
from dpt_core.models.reach import PRESENCE_SCALE, presence, reach
from dpt_core.texture_fill import span_fill

SIZE, N = 64, 16


def _torso(top: int, left: int) -> torch.Tensor:
    """(1, 3, 64, 64) float IUV: part 2 on a 20×12 box at (top, left), U along x, V along y,
    one texel per pixel pair so every texel the box covers is seen."""
    iuv = torch.zeros(1, 3, SIZE, SIZE)
    iuv[0, 0, top : top + 20, left : left + 12] = 2
    iuv[0, 1, top : top + 20, left : left + 12] = torch.linspace(0, 255, 12)
    iuv[0, 2, top : top + 20, left : left + 12] = torch.linspace(255, 0, 20)[:, None]
    return iuv


def _source_with_hair() -> torch.Tensor:
    """Grey backdrop (-0.2), the body red, a 2-pixel blue 'hair' line just above it."""
    image = torch.full((1, 3, SIZE, SIZE), -0.2)
    image[0, :, 20:40, 20:32] = torch.tensor([0.8, -0.8, -0.8]).view(3, 1, 1)
    image[0, :, 18:20, 20:32] = torch.tensor([-0.8, -0.8, 0.8]).view(3, 1, 1)
    return image


def test_reach_carries_the_pixels_above_the_body_with_it() -> None:
    source, source_iuv = _source_with_hair(), _torso(20, 20)
    target_iuv = _torso(30, 26)  # the same body moved 10 down and 6 right
    out = reach(source, source_iuv, target_iuv, N, margin=2 / SIZE)
    ring = person_hole(target_iuv, 2 / SIZE) - body_mask(target_iuv)
    assert torch.equal(out.where, ring)
    blue = torch.tensor([-0.8, -0.8, 0.8])
    hair = out.image[0, :, 28:30, 28:36]  # the moved hair line above the moved body, inside
    assert torch.allclose(hair, blue.view(3, 1, 1).expand_as(hair), atol=0.05)
    assert torch.equal(out.image * (1 - ring), torch.zeros_like(out.image))  # 0 elsewhere
    below = out.image[0, :, 50:52, 28:36]  # under the body: the source's backdrop there
    assert torch.allclose(below, torch.full_like(below, -0.2), atol=0.05)


def test_reach_needs_a_seen_body_and_carries_any_channels() -> None:
    source = torch.cat((_source_with_hair(), torch.ones(1, 1, SIZE, SIZE)), 1)  # 4 channels
    out = reach(source, torch.zeros(1, 3, SIZE, SIZE), _torso(30, 26), N)
    assert out.image.shape == (1, 4, SIZE, SIZE)
    assert not out.where.any() and not out.image.any()  # no source body: nothing carried


def test_presence_is_one_on_the_body_and_the_difference_to_the_plate_in_the_hole() -> None:
    source, source_iuv = _source_with_hair(), _torso(20, 20)
    hole = person_hole(source_iuv, 2 / SIZE)
    plate = span_fill(source, 1 - hole)
    there = presence(source, source_iuv, plate, hole)
    assert torch.equal(there[body_mask(source_iuv) > 0], torch.ones(240))
    assert not there[hole == 0].any()
    assert torch.allclose(there[0, 0, 18:20, 22:30], torch.ones(2, 8))  # the blue line: person
    expected = ((source - plate).abs().mean(1, True) / PRESENCE_SCALE).clamp(0, 1)
    assert torch.allclose(there[0, 0, 25, 18], expected[0, 0, 25, 18])  # backdrop beside it
    assert there[0, 0, 25, 18] < 0.05


def _blender(tiny, **update) -> Blender:
    scale = tiny.model_copy(update={"blender": tiny.blender.model_copy(update=update)})
    return Blender.from_config(scale, predicted_channels=5, warped_channels=2)


def test_blender_reach_starts_at_its_share_on_the_target_ring(tiny, image_factory) -> None:
    blender = _blender(tiny, reach=0.3, copy_source=False)
    source, source_iuv, target_iuv = _source_with_hair(), _torso(20, 20), _torso(30, 26)
    predicted, warped = image_factory(1, SIZE, 3) * 0.5, image_factory(1, SIZE, 4) * 0.5
    feats = torch.randn(1, 5, SIZE, SIZE), torch.randn(1, 2, SIZE, SIZE)
    out = blender(predicted, feats[0], warped, feats[1], target_iuv, source, source_iuv)
    carried = reach(source, source_iuv, target_iuv, tiny.atlas_n, tiny.blender.copy_margin)
    ring = carried.where.bool().expand_as(predicted)
    expected = 0.3 * carried.image + 0.7 * predicted
    assert torch.allclose(out.image[ring], expected[ring], atol=1e-5)
    body = body_mask(target_iuv).bool().expand_as(predicted)
    rest = ~ring & ~body
    assert torch.allclose(out.image[rest], predicted[rest], atol=1e-6)  # no plate: copy_source off
    ((out.image - predicted.flip(-1)) ** 2).sum().backward()
    assert blender.head.bias.grad[-1] != 0  # the reach share learns
    with pytest.raises(ValueError, match="required with copy_source, reach, source_hint"):
        blender(predicted, feats[0], warped, feats[1], target_iuv)
    with pytest.raises(ValueError, match="reach"):
        _blender(tiny, reach=1.0)
    with pytest.raises(ValidationError, match="reach"):
        tiny.blender.model_validate({**tiny.blender.model_dump(), "reach": -0.1})


def test_source_hint_is_the_hair_colour_and_its_share_of_the_ring() -> None:
    source, source_iuv = _source_with_hair(), _torso(20, 20)
    hole = person_hole(source_iuv, 2 / SIZE)
    hint = source_hint(source, source_iuv, span_fill(source, 1 - hole), hole)
    assert hint.shape == (1, 4, SIZE, SIZE) and torch.equal(
        hint, hint[:, :, :1, :1].expand_as(hint)
    )
    colour, share = hint[0, :3, 0, 0], float(hint[0, 3, 0, 0])
    assert torch.allclose(colour, torch.tensor([-0.8, -0.8, 0.8]), atol=0.05)  # the blue line
    ring = float((hole - body_mask(source_iuv)).sum())
    assert share == pytest.approx(24 / ring, abs=0.02)  # 2 × 12 blue pixels of the ring
    bare = torch.full_like(source, -0.2)
    bare[0, :, 20:40, 20:32] = 0.8  # no hair: nothing differs from the plate in the ring
    nothing = source_hint(bare, source_iuv, span_fill(bare, 1 - hole), hole)
    assert nothing.abs().max() < 1e-5
