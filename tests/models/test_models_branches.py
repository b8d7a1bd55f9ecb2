"""Shapes, layouts and behaviour of every network at tiny scale."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from dpt_core.atlas import scatter_torch, tile_origin
from dpt_core.models import (
    SCALES,
    Blender,
    DensePoseTransfer,
    PatchDiscriminator,
    PredictiveBranch,
    TextureInpainter,
    WarpingBranch,
    atlas_to_parts,
    body_mask,
    get_scale,
    iuv_to_input,
    parts_to_atlas,
)
from dpt_core.models.blocks import clamp_image, person_hole
from dpt_core.models.inpainter import HINT_CHANNELS, part_hints
from dpt_core.texture_fill import push_pull, span_fill, strip_fill_parts
from dpt_core.train.checkpoint import load_generator, rng_state, save_checkpoint


def test_iuv_to_input_and_body_mask_values() -> None:
    iuv = torch.tensor([[[[24, 0]], [[255, 0]], [[51, 0]]]], dtype=torch.uint8)
    x = iuv_to_input(iuv)
    assert x.dtype == torch.float32 and x.shape == (1, 26, 1, 2)
    expected = torch.zeros(26)
    expected[23], expected[24], expected[25] = 1.0, 1.0, 0.2  # part 24 one-hot, U = 1, V = 0.2
    assert torch.allclose(x[0, :, 0, 0], expected)
    assert torch.equal(x[0, :, 0, 1], torch.zeros(26))  # background: no part, no U, V
    assert body_mask(iuv).tolist() == [[[[1.0, 0.0]]]]
    with pytest.raises(ValueError, match="iuv_b3hw"):
        iuv_to_input(torch.zeros(1, 2, 4, 4))


def test_scales_are_consistent_and_selected_by_name() -> None:
    assert set(SCALES) == {"tiny", "demo", "paper"}
    for scale in SCALES.values():
        assert scale.image_size % 2**scale.predictive.n_down == 0
        assert scale.atlas_n % 2**scale.inpainter.n_down == 0
        assert scale.image_size >= 3 * 2**scale.discriminator.n_layers
    assert (get_scale("tiny").image_size, get_scale("tiny").atlas_n) == (64, 16)
    assert (get_scale("paper").image_size, get_scale("paper").inpainter.global_dim) == (256, 256)
    with pytest.raises(ValueError, match="unknown model scale 'huge'"):
        get_scale("huge")
    with pytest.raises(ValidationError, match="frozen"):
        get_scale("tiny").atlas_n = 8


def test_atlas_parts_layout_matches_atlas_module() -> None:
    n = 4
    atlas = torch.zeros(1, 1, 6 * n, 4 * n)
    for part in range(1, 25):
        r0, c0 = tile_origin(part, n)
        atlas[0, 0, r0 : r0 + n, c0 : c0 + n] = part
    parts = atlas_to_parts(atlas)
    assert parts.shape == (1, 24, 1, n, n)
    expected = torch.arange(1, 25, dtype=torch.float32).view(1, 24, 1, 1, 1).expand_as(parts)
    assert torch.equal(parts, expected)
    noise = torch.randn(2, 3, 6 * n, 4 * n)
    assert torch.equal(parts_to_atlas(atlas_to_parts(noise)), noise)


def test_predictive_shapes_and_errors(tiny, tiny_batch) -> None:
    net = PredictiveBranch.from_config(tiny)
    out = net(*tiny_batch)
    assert out.image.shape == (4, 3, 64, 64)
    assert out.features.shape == (4, tiny.predictive.base_width, 64, 64)
    assert out.image.abs().max() <= 1.0
    source, src_iuv, tgt_iuv = tiny_batch
    with pytest.raises(ValueError, match="source_iuv_b3hw"):
        net(source, src_iuv[:, :, :32], tgt_iuv)
    with pytest.raises(ValueError, match="multiples of 8"):
        net(source[..., :60, :60], src_iuv[..., :60, :60], tgt_iuv[..., :60, :60])


def test_inpainter_encoders_are_per_part(tiny) -> None:
    net = TextureInpainter.from_config(tiny)
    n = tiny.atlas_n
    c = 4 + HINT_CHANNELS  # per part: own texels + visibility, then the hints
    x = torch.randn(1, 24 * c, n, n)
    y = x.clone()
    y[:, c * 6 : c * 7] += 1.0  # only part 7's input channels change

    def encode(t: torch.Tensor) -> torch.Tensor:
        t = net.stem(t)
        for down in net.downs:
            t = down(t)
        return t.reshape(1, 24, -1, *t.shape[2:])

    changed = (encode(x) - encode(y)).abs().flatten(2).amax(dim=2)[0]
    assert changed[6] > 0
    assert torch.count_nonzero(changed) == 1


def test_part_hints_by_hand() -> None:
    parts = torch.zeros(1, 24, 4, 2, 2)
    parts[0, 2, :3, 0, 0], parts[0, 2, 3, 0, 0] = 0.5, 1.0  # part 3 sees one texel (0.5)
    parts[0, 2, :3, 1, 1], parts[0, 2, 3, 1, 1] = -0.1, 1.0  # and another (-0.1)
    hints = part_hints(parts)
    assert hints.shape == (1, 24, HINT_CHANNELS, 2, 2)
    assert torch.allclose(hints[0, 2, :3], torch.full((3, 2, 2), 0.2))  # mean of what it saw
    assert (hints[0, 2, 3] == 1).all() and (hints[0, 3, 3] == 0).all()  # part 4 saw nothing
    assert torch.equal(hints[0, 3, 4:8], parts[0, 2])  # part 4's partner is part 3 (mirror)
    assert torch.equal(hints[0, 0, 4:8], parts[0, 1])  # torso halves are partners
    # strip fill (push-pull on hands): part 3's unseen texels get the mean of its two seen ones,
    # part 4 (unseen) its partner's fill
    fill = torch.tensor([[0.5, 0.2], [0.2, -0.1]]).expand(3, 2, 2)
    assert torch.allclose(hints[0, 2, 8:], fill) and torch.allclose(hints[0, 3, 8:], fill)


def test_untrained_inpainter_is_the_strip_fill(tiny, tiny_batch) -> None:
    net = TextureInpainter.from_config(tiny)
    source, src_iuv, _ = tiny_batch
    partial, vis = scatter_torch(source, src_iuv, tiny.atlas_n)
    parts = atlas_to_parts(torch.cat((partial * vis, vis), dim=1))
    fill = parts_to_atlas(strip_fill_parts(parts[:, :, :3], parts[:, :, 3:]))
    assert torch.allclose(net(partial, vis).atlas, fill, atol=1e-6)


def test_clamp_image_clamps_values_and_passes_gradients() -> None:
    x = torch.tensor([-3.0, -0.5, 0.25, 1.0, 40.0], requires_grad=True)
    y = clamp_image(x)
    assert y.tolist() == [-1.0, -0.5, 0.25, 1.0, 1.0]
    (y * torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])).sum().backward()
    assert x.grad.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]  # a plain clamp gives 0 at -3 and 40


def test_a_saturated_inpainter_part_is_pulled_back(tiny, tiny_batch) -> None:
    """A part whose residual overshoots far past +1 still gets a gradient from the L1 loss."""
    net = TextureInpainter.from_config(tiny)
    source, src_iuv, _ = tiny_batch
    partial, vis = scatter_torch(source, src_iuv, tiny.atlas_n)
    head = net.to_rgb[-1]
    with torch.no_grad():
        head.bias.fill_(50.0)  # every texel of every part far past the bound
    atlas = net(partial, vis).atlas
    assert float(atlas.max()) == 1.0
    (atlas - 0.0).abs().mean().backward()
    assert float(head.bias.grad.abs().sum()) > 0


@pytest.mark.parametrize("shared_decoder", [False, True])
def test_inpainter_shapes_and_keeps_visible_texels(tiny, tiny_batch, shared_decoder) -> None:
    cfg = tiny.inpainter.model_copy(update={"shared_decoder": shared_decoder})
    net = TextureInpainter.from_config(tiny.model_copy(update={"inpainter": cfg}))
    source, src_iuv, _ = tiny_batch
    partial, vis = scatter_torch(source, src_iuv, tiny.atlas_n)
    out = net(partial, vis)
    assert out.atlas.shape == (4, 3, 96, 64)
    assert out.features.shape == (4, tiny.inpainter.feature_channels, 96, 64)
    seen = vis.expand_as(partial) > 0
    assert seen.any() and (~seen).any()
    assert torch.equal(out.atlas[seen], partial[seen])
    with pytest.raises(ValueError, match="partial_atlas_bchw"):
        net(partial[..., :64, :], vis[..., :64, :])


def test_inpainter_rejects_bad_atlas_size() -> None:
    with pytest.raises(ValueError, match="atlas_n"):
        TextureInpainter(atlas_n=12, n_down=3)


def test_gradients_reach_inpainter_through_bilinear_gather(tiny, tiny_batch, image_factory) -> None:
    warping = WarpingBranch.from_config(tiny)
    torch.nn.init.normal_(warping.inpainter.to_rgb[0].weight, std=0.01)  # as after a step
    source, src_iuv, tgt_iuv = tiny_batch
    out = warping(source, src_iuv, tgt_iuv)
    assert out.image.shape == (4, 3, 64, 64)
    assert out.features.shape == (4, tiny.inpainter.feature_channels, 64, 64)
    assert torch.equal(out.image * (1 - body_mask(tgt_iuv)), torch.zeros_like(out.image))
    loss = (out.image - image_factory(4, 64, 9)).abs().mean()
    loss.backward()
    inpainter = warping.inpainter
    for name, module in [("stem", inpainter.stem[0]), ("global", inpainter.to_global[1]),
                         ("rgb", inpainter.to_rgb[0])]:  # fmt: skip
        assert module.weight.grad is not None, name
        assert module.weight.grad.abs().sum() > 0, name


def test_warping_uses_given_partial_texture(tiny, tiny_batch) -> None:
    warping = WarpingBranch.from_config(tiny)
    source, src_iuv, tgt_iuv = tiny_batch
    partial, vis = scatter_torch(source, src_iuv, tiny.atlas_n)
    a = warping(source, src_iuv, tgt_iuv)
    b = warping(torch.zeros_like(source), src_iuv, tgt_iuv, partial, vis)
    assert torch.allclose(a.image, b.image, atol=1e-6)
    with pytest.raises(ValueError, match="both or neither"):
        warping(source, src_iuv, tgt_iuv, partial, None)


def _blender(tiny, **update) -> Blender:
    scale = tiny.model_copy(update={"blender": tiny.blender.model_copy(update=update)})
    return Blender.from_config(scale, predicted_channels=5, warped_channels=2)


def test_blender_starts_mostly_warped_on_body(tiny, image_factory, iuv_factory) -> None:
    blender = _blender(tiny, copy_source=False)
    blender.head.bias.data[0] = 0.0  # warp_prior 0: the plain average on the body
    predicted = image_factory(2, 64, 3) * 0.5
    warped = image_factory(2, 64, 4) * 0.5
    iuv = iuv_factory(2, 64, 5)
    out = blender(predicted, torch.randn(2, 5, 64, 64), warped, torch.randn(2, 2, 64, 64), iuv)
    mask = body_mask(iuv)
    assert torch.allclose(out.alpha, 0.5 * mask)
    expected = mask * (predicted + warped) / 2 + (1 - mask) * predicted
    assert torch.allclose(out.image, expected, atol=1e-6)
    shipped = _blender(tiny, copy_source=False)
    feats = torch.randn(2, 5, 64, 64), torch.randn(2, 2, 64, 64)
    shipped_out = shipped(predicted, feats[0], warped, feats[1], iuv)
    assert torch.allclose(shipped_out.alpha, torch.sigmoid(torch.tensor(6.0)) * mask)
    with pytest.raises(ValueError, match="predicted_features"):
        blender(predicted, torch.randn(2, 4, 64, 64), warped, torch.randn(2, 2, 64, 64), iuv)


def test_warp_slack_lets_the_body_be_exactly_the_warped_image(
    tiny, image_factory, iuv_factory
) -> None:
    blender = _blender(tiny, copy_source=False, warp_slack=0.01)  # 1.01·sigmoid(6) > 1
    predicted, warped = image_factory(2, 64, 3) * 0.5, image_factory(2, 64, 4) * 0.5
    iuv = iuv_factory(2, 64, 5)
    feats = torch.randn(2, 5, 64, 64), torch.randn(2, 2, 64, 64)
    out = blender(predicted, feats[0], warped, feats[1], iuv)
    body = body_mask(iuv)
    assert torch.equal(out.alpha, body)
    assert torch.equal(
        out.image[body.bool().expand_as(warped)], warped[body.bool().expand_as(warped)]
    )
    (out.image * (warped - predicted)).sum().backward()  # the loss wants less warped image
    assert blender.head.bias.grad[0] > 0  # ... and reaches the saturated logit through the clamp
    blender.head.bias.data[0] = 0.0
    low = blender(predicted, feats[0], warped, feats[1], iuv)
    assert torch.allclose(low.alpha, 0.505 * body)  # below the bound: (1 + slack)·sigmoid


def test_blender_body_warped_keeps_the_warped_surface_and_learns_the_rest(
    tiny, image_factory, iuv_factory
) -> None:
    blender = _blender(tiny, body="warped")
    blender.head.bias.data[0] = -50.0  # a logit that would give the body to the predicted image
    predicted, warped = image_factory(2, 64, 3) * 0.5, image_factory(2, 64, 4) * 0.5
    source, iuv, src_iuv = image_factory(2, 64, 6), iuv_factory(2, 64, 5), iuv_factory(2, 64, 7)
    feats = torch.randn(2, 5, 64, 64), torch.randn(2, 2, 64, 64)
    out = blender(predicted, feats[0], warped, feats[1], iuv, source, src_iuv)
    body = body_mask(iuv)
    assert torch.equal(out.alpha, body)
    on_body = body.bool().expand_as(warped)
    assert torch.equal(out.image[on_body], warped[on_body])
    ((out.image - warped.flip(0)) ** 2).sum().backward()
    assert blender.head.bias.grad[0] == 0  # the warp logit is unused ...
    assert blender.head.bias.grad[1:].abs().sum() > 0  # ... the correction and plate share learn
    with pytest.raises(ValueError, match="body"):
        _blender(tiny, body="mixed")


def test_blender_correction_refines_only_the_predicted_share(
    tiny, image_factory, iuv_factory
) -> None:
    blender = _blender(tiny, copy_source=False)
    blender.head.bias.data[:] = torch.tensor([50.0, 0.3, -0.2, 0.1])  # alpha 1.0 on the body
    predicted = image_factory(2, 64, 3) * 0.5
    warped = image_factory(2, 64, 4) * 0.5
    iuv = iuv_factory(2, 64, 5)
    out = blender(predicted, torch.randn(2, 5, 64, 64), warped, torch.randn(2, 2, 64, 64), iuv)
    body = body_mask(iuv).bool().expand_as(warped)
    assert torch.equal(out.image[body], warped[body])  # the warped surface, untouched
    corrected = (predicted + torch.tensor([0.3, -0.2, 0.1]).view(1, 3, 1, 1)).clamp(-1, 1)
    assert torch.allclose(out.image[~body], corrected[~body], atol=1e-6)


@pytest.mark.parametrize("plate_fill", ["push_pull", "span"])
def test_blender_copies_the_source_background_never_a_person(
    tiny, image_factory, iuv_factory, plate_fill
) -> None:
    blender = _blender(tiny, plate_fill=plate_fill)  # copy_source: on by default
    predicted = image_factory(2, 64, 3) * 0.5
    warped = image_factory(2, 64, 4) * 0.5
    source, source_iuv, iuv = image_factory(2, 64, 6), iuv_factory(2, 64, 7), iuv_factory(2, 64, 5)
    feats = torch.randn(2, 5, 64, 64), torch.randn(2, 2, 64, 64)
    out = blender(predicted, feats[0], warped, feats[1], iuv, source, source_iuv)
    source_hole = person_hole(source_iuv).bool().expand_as(warped)
    target_hole = person_hole(iuv).bool().expand_as(warped)
    off_body = (1 - body_mask(iuv)).bool().expand_as(warped)
    # the plate: the source outside its person, inside it filled from around it
    fill = {"push_pull": push_pull, "span": span_fill}[plate_fill]
    plate = fill(source, 1.0 - person_hole(source_iuv))
    assert torch.equal(plate[~source_hole], source[~source_hole])
    person_colours = source[source_hole].unique()
    assert not torch.isin(plate[source_hole], person_colours).all()
    share = torch.sigmoid(torch.tensor(2.0))  # its start: 0.88 of the plate off the target
    expected = share * plate + (1 - share) * predicted
    background = off_body & ~target_hole
    assert background.any() and (off_body & target_hole).any()
    assert torch.allclose(out.image[background], expected[background], atol=1e-6)
    band = off_body & target_hole
    assert torch.allclose(out.image[band], predicted[band], atol=1e-6)
    with pytest.raises(ValueError, match="required with copy_source"):
        blender(predicted, feats[0], warped, feats[1], iuv)
    with pytest.raises(ValueError, match="plate_fill"):
        _blender(tiny, plate_fill="blur")


def test_blender_hole_share_starts_small_inside_the_target_hole(
    tiny, image_factory, iuv_factory
) -> None:
    blender = _blender(tiny, hole_share=0.12)
    predicted, warped = image_factory(2, 64, 3) * 0.5, image_factory(2, 64, 4) * 0.5
    source, source_iuv, iuv = image_factory(2, 64, 6), iuv_factory(2, 64, 7), iuv_factory(2, 64, 5)
    feats = torch.randn(2, 5, 64, 64), torch.randn(2, 2, 64, 64)
    out = blender(predicted, feats[0], warped, feats[1], iuv, source, source_iuv)
    plate = push_pull(source, 1.0 - person_hole(source_iuv))
    target_hole = person_hole(iuv).bool().expand_as(warped)
    off_body = (1 - body_mask(iuv)).bool().expand_as(warped)
    band, background = off_body & target_hole, off_body & ~target_hole
    for where, share in ((band, 0.12), (background, float(torch.sigmoid(torch.tensor(2.0))))):
        expected = share * plate + (1 - share) * predicted
        assert torch.allclose(out.image[where], expected[where], atol=1e-5)
    with pytest.raises(ValueError, match="hole_share"):
        _blender(tiny, hole_share=1.0)


def test_full_generator_shapes(tiny, tiny_batch) -> None:
    net = DensePoseTransfer.from_config("tiny")
    out = net(*tiny_batch)
    for name in ("image", "predicted", "warped"):
        assert getattr(out, name).shape == (4, 3, 64, 64), name
    assert out.alpha.shape == (4, 1, 64, 64)
    assert out.atlas.shape == out.partial_atlas.shape == (4, 3, 96, 64)
    assert out.visibility.shape == (4, 1, 96, 64)
    assert out.image.abs().max() <= 1.0


def test_demo_generator_runs_at_its_size(image_factory, iuv_factory) -> None:
    scale = get_scale("demo")
    net = DensePoseTransfer.from_config(scale)
    size = scale.image_size
    out = net(image_factory(1, size, 0), iuv_factory(1, size, 1), iuv_factory(1, size, 2))
    assert out.image.shape == (1, 3, size, size)
    assert out.atlas.shape == (1, 3, 6 * scale.atlas_n, 4 * scale.atlas_n)


@pytest.mark.parametrize("spectral", [False, True])
def test_discriminator_patch_logits(tiny, spectral, image_factory, iuv_factory) -> None:
    cfg = tiny.discriminator.model_copy(update={"spectral_norm": spectral})
    disc = PatchDiscriminator.from_config(tiny.model_copy(update={"discriminator": cfg}))
    images, iuv = image_factory(2, 64, 0), iuv_factory(2, 64, 1)
    assert disc(images, iuv).shape == (2, 1, 6, 6)  # 64 / 2**3 = 8, two 4×4 stride-1 convs
    with pytest.raises(ValueError, match="target_iuv_b3hw: required"):
        disc(images)
    with pytest.raises(ValueError, match="at least 24"):
        disc(images[..., :16, :16], iuv[..., :16, :16])
    plain = PatchDiscriminator(width=8, n_layers=2, conditional=False)
    assert plain(images).shape == (2, 1, 14, 14)


@pytest.mark.parametrize("skips", ["target", "all"])
def test_predictive_skips_carry_the_source_only_when_asked(tiny, tiny_batch, skips) -> None:
    cfg = tiny.predictive.model_copy(update={"skips": skips})
    net = PredictiveBranch.from_config(tiny.model_copy(update={"predictive": cfg})).eval()
    source, src_iuv, tgt_iuv = tiny_batch
    seen: list[torch.Tensor] = []
    hooks = [f.register_forward_pre_hook(lambda m, a: seen.append(a[0])) for f in net.fuses]
    with torch.no_grad():
        net(source, src_iuv, tgt_iuv)
        net(torch.flip(source, dims=[-1]), src_iuv, tgt_iuv)
    for hook in hooks:
        hook.remove()
    half = len(seen) // 2
    # each fuse's input is (upsampled decoder map, skip): compare the skip halves of both runs
    same = [
        torch.equal(a[:, a.shape[1] // 2 :], b[:, b.shape[1] // 2 :])
        for a, b in zip(seen[:half], seen[half:], strict=True)
    ]
    assert all(same) if skips == "target" else not any(same)


def test_checkpoint_saved_before_new_fields_loads_as_it_was_trained(tmp_path) -> None:
    tiny = get_scale("tiny")
    blender = tiny.blender.model_copy(update={"correction": "everywhere", "copy_source": False})
    old = tiny.model_copy(
        update={
            "predictive": tiny.predictive.model_copy(update={"skips": "all"}),
            "blender": blender,
        }
    )
    model = DensePoseTransfer.from_config(old)
    scale = old.model_dump(mode="json")
    del scale["predictive"]["skips"]  # the scale as checkpoints wrote it before the fields
    del scale["blender"]["correction"], scale["blender"]["copy_source"]
    payload = {"stage": "blending", "models": {"generator": model.state_dict()},
               "optimizers": {}, "scaler": {}, "rng": rng_state(),
               "metrics": {"sums": {}, "steps": 0}, "scale": scale, "config": {}}  # fmt: skip
    url = save_checkpoint(str(tmp_path / "run"), 1, payload)
    generator, loaded = load_generator(url)
    assert loaded.predictive.skips == "all" and generator.predictive.skips == "all"
    assert generator.blender.correction == "everywhere"  # the formula it was trained with
    assert not generator.blender.copy_source
