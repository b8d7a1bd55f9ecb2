"""Losses against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from dpt_core.losses import (
    gan_d_loss,
    gan_g_loss,
    gram_matrix,
    l1_loss,
    multiview_inpainting_loss,
    perceptual_loss,
    style_loss,
)


def test_gram_matrix_hand_computed() -> None:
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    # F Fᵀ = [[1+4, 3+8], [3+8, 9+16]], divided by C·H·W = 4
    expected = torch.tensor([[[1.25, 2.75], [2.75, 6.25]]])
    assert torch.allclose(gram_matrix(features), expected)


def test_perceptual_and_style_on_feature_lists() -> None:
    a = [torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)]
    b = [torch.zeros(1, 2, 1, 2)]
    assert perceptual_loss(a, b).item() == pytest.approx((1 + 4 + 9 + 16) / 4)
    assert perceptual_loss(a, b, weights=[0.5]).item() == pytest.approx(30 / 8)
    assert style_loss(a, b).item() == pytest.approx((1.25**2 + 2 * 2.75**2 + 6.25**2) / 4)
    assert style_loss(a, a).item() == 0.0
    with pytest.raises(ValueError, match="weights"):
        perceptual_loss(a, b, weights=[1.0, 1.0])


def test_l1_loss_plain_and_masked() -> None:
    pred = torch.tensor([0.0, 1.0, 2.0, 3.0]).view(1, 1, 2, 2)
    target = torch.zeros(1, 1, 2, 2)
    assert l1_loss(pred, target).item() == pytest.approx(1.5)
    mask = torch.tensor([1.0, 0.0, 0.0, 1.0]).view(1, 1, 2, 2)
    assert l1_loss(pred, target, mask).item() == pytest.approx(1.5)  # (0 + 3) / 2
    assert l1_loss(pred, target, torch.zeros_like(mask)).item() == 0.0
    with pytest.raises(ValueError, match="target_bchw"):
        l1_loss(pred, torch.zeros(1, 1, 2, 3))


def test_lsgan_values() -> None:
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    # D: ½·mean([0, 1]) + ½·mean([0, 4]) = 0.25 + 1.0;  G: ½·mean([1, 1]) = 0.5
    assert gan_d_loss(real, fake, "lsgan").item() == pytest.approx(1.25)
    assert gan_g_loss(fake, "lsgan").item() == pytest.approx(0.5)
    # a list of logits (multi-scale) sums the scales
    assert gan_g_loss([fake, fake], "lsgan").item() == pytest.approx(1.0)


def test_hinge_values() -> None:
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.0])
    # D: mean(relu(1 - real)) = mean([0, .5, 2]); mean(relu(1 + fake)) = mean([0, 1, 2])
    assert gan_d_loss(real, fake, "hinge").item() == pytest.approx(2.5 / 3 + 1.0)
    assert gan_g_loss(fake, "hinge").item() == pytest.approx(1.0 / 3)
    with pytest.raises(ValueError, match="mode"):
        gan_g_loss(fake, "wgan")


def _two_views_and_a_stranger() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Views 0, 1 of one person and view 2 of another; 1 channel, 1×4 texels."""
    pred = torch.tensor([[0.0] * 4, [1.0] * 4, [5.0] * 4]).view(3, 1, 1, 4)
    partial = torch.tensor([[0.5, 0.25, 9, 9], [9, 0.5, 0.75, 1.0], [7, 7, 7, 7]]).view(3, 1, 1, 4)
    vis = torch.tensor([[1.0, 1, 0, 0], [0, 1, 1, 1], [1, 1, 1, 1]]).view(3, 1, 1, 4)
    return pred, partial, vis


def test_multiview_loss_hand_computed() -> None:
    pred, partial, vis = _two_views_and_a_stranger()
    pred.requires_grad_(True)
    # pred0 vs view 1 on its 3 visible texels: .5 + .75 + 1 = 2.25
    # pred1 vs view 0 on its 2 visible texels: .5 + .75     = 1.25; view 2 has no partner
    loss = multiview_inpainting_loss(pred, torch.tensor([7, 7, 3]), partial, vis)
    assert loss.item() == pytest.approx(3.5 / 5)
    loss.backward()
    assert torch.allclose(pred.grad[0].flatten(), torch.tensor([0, -1, -1, -1]) / 5.0)
    assert torch.allclose(pred.grad[1].flatten(), torch.tensor([1, 1, 0, 0]) / 5.0)
    assert torch.equal(pred.grad[2], torch.zeros(1, 1, 4))
    by_name = multiview_inpainting_loss(pred, ["id00007", "id00007", "id00003"], partial, vis)
    assert by_name.item() == pytest.approx(0.7)


def test_multiview_loss_with_three_views_compares_each() -> None:
    pred = torch.zeros(3, 1, 1, 1)
    partial = torch.tensor([1.0, 2.0, 4.0]).view(3, 1, 1, 1)
    vis = torch.ones(3, 1, 1, 1)
    # each view vs the two others: (2+4) + (1+4) + (1+2) = 14 over 6 comparisons
    loss = multiview_inpainting_loss(pred, torch.zeros(3, dtype=torch.long), partial, vis)
    assert loss.item() == pytest.approx(14 / 6)


def test_multiview_loss_mean_target_compares_with_the_other_views_mean() -> None:
    pred = torch.zeros(3, 1, 1, 2)
    partial = torch.tensor([[1.0, 8.0], [2.0, 8.0], [4.0, 8.0]]).view(3, 1, 1, 2)
    vis = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]]).view(3, 1, 1, 2)
    # texel 0: view 0 vs mean(2, 4) = 3, view 1 vs mean(1, 4) = 2.5, view 2 vs mean(1, 2) = 1.5;
    # texel 1: only view 2 sees it, so views 0 and 1 are compared with 8, view 2 with nothing
    loss = multiview_inpainting_loss(pred, [5, 5, 5], partial, vis, target="mean")
    assert loss.item() == pytest.approx((3 + 2.5 + 1.5 + 8 + 8) / 5)
    stranger = multiview_inpainting_loss(pred, [5, 5, 6], partial, vis, target="mean")
    assert stranger.item() == pytest.approx((2 + 1) / 2)
    with pytest.raises(ValueError, match="target"):
        multiview_inpainting_loss(pred, [5, 5, 5], partial, vis, target="median")


def test_multiview_loss_single_views_is_zero_not_nan() -> None:
    pred, partial, vis = _two_views_and_a_stranger()
    pred.requires_grad_(True)
    loss = multiview_inpainting_loss(pred, torch.tensor([1, 2, 3]), partial, vis)
    assert loss.item() == 0.0 and not math.isnan(loss.item())
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))
    unseen = multiview_inpainting_loss(pred, [0, 0, 1], partial, torch.zeros_like(vis))
    assert unseen.item() == 0.0


def test_multiview_loss_rejects_mismatched_inputs() -> None:
    pred, partial, vis = _two_views_and_a_stranger()
    with pytest.raises(ValueError, match="person_ids"):
        multiview_inpainting_loss(pred, [1, 1], partial, vis)
    with pytest.raises(ValueError, match="visibility_b1hw"):
        multiview_inpainting_loss(pred, [1, 1, 2], partial, vis[:, :, :, :2])
    with pytest.raises(ValueError, match="partial_atlas_bchw"):
        multiview_inpainting_loss(pred, [1, 1, 2], partial[:2], vis)
