"""VGG-19 loading (torchvision's state-dict format), perceptual/style losses, no-VGG paths, and
the record of which losses a run optimises (the Caffe layout: ``test_models_vgg_caffe.py``)."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from torchvision.models.vgg import cfgs, make_layers

from dpt_core import losses
from dpt_core.losses import (
    LossConfig,
    VGGLoss,
    build_vgg_loss,
    losses_record,
    save_losses_record,
    vgg_status,
)
from dpt_core.models.vgg import RELU_INDEX, VGG19Features, imagenet_normalize


def test_layer_names_match_torchvision_indices() -> None:
    assert RELU_INDEX["relu1_2"] == 3
    assert RELU_INDEX["relu2_2"] == 8
    assert RELU_INDEX["relu3_4"] == 17
    assert RELU_INDEX["relu4_4"] == 26
    assert RELU_INDEX["relu5_4"] == 35


def test_features_equal_torchvision_reference(vgg_file, vgg_state) -> None:
    vgg = VGG19Features.from_file(vgg_file, layers=("relu2_2", "relu1_2"))
    assert len(vgg.features) == RELU_INDEX["relu2_2"] + 1  # truncated after the deepest layer
    reference = make_layers(cfgs["E"])
    reference.load_state_dict({k.removeprefix("features."): v for k, v in vgg_state.items()})
    x = torch.randn(2, 3, 32, 32)
    relu2_2, relu1_2 = vgg(x)
    assert torch.allclose(relu1_2, reference[:4](x), atol=1e-5)
    assert torch.allclose(relu2_2, reference[:9](x), atol=1e-5)
    assert not any(p.requires_grad for p in vgg.parameters())


def test_imagenet_normalize_values() -> None:
    x = torch.tensor([-1.0, 0.0, 1.0]).view(1, 3, 1, 1)
    expected = torch.tensor([(0 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (1 - 0.406) / 0.225])
    assert torch.allclose(imagenet_normalize(x).flatten(), expected)


def test_perceptual_zero_for_identical_positive_otherwise(vgg_file, image_factory) -> None:
    loss = build_vgg_loss(LossConfig(vgg_weights=vgg_file))
    assert isinstance(loss, VGGLoss)
    a, b = image_factory(2, 32, 0), image_factory(2, 32, 1)
    same = loss(a, a.clone())
    assert same.perceptual.item() == 0.0 and same.style.item() == 0.0
    a.requires_grad_(True)
    diff = loss(a, b)
    assert diff.perceptual.item() > 0 and diff.style.item() > 0
    diff.perceptual.backward()
    assert a.grad is not None and a.grad.abs().sum() > 0


def test_missing_vgg_warns_once(caplog, monkeypatch) -> None:
    monkeypatch.setattr(losses, "_warned_no_vgg", False)
    with caplog.at_level(logging.WARNING, logger="dpt_core.losses"):
        assert build_vgg_loss(LossConfig()) is None
        assert build_vgg_loss(LossConfig()) is None
    warnings = [r for r in caplog.records if "VGG-19" in r.getMessage()]
    assert len(warnings) == 1
    assert "perceptual and style losses are off" in warnings[0].getMessage()


def test_required_vgg_missing_is_an_error() -> None:
    with pytest.raises(ValueError, match="vgg_weights: required"):
        build_vgg_loss(LossConfig(require_vgg=True))


def test_missing_vgg_file_names_it(tmp_path) -> None:
    missing = str(tmp_path / "nowhere" / "vgg19.pth")
    with pytest.raises(FileNotFoundError, match=r"nowhere/vgg19\.pth"):
        build_vgg_loss(LossConfig(vgg_weights=missing))


def test_bad_vgg_files_are_value_errors(tmp_path, vgg_state) -> None:
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"garbage\.pth"):
        VGG19Features.from_file(str(garbage))
    partial = tmp_path / "partial.pth"
    torch.save({k: v for k, v in vgg_state.items() if not k.startswith("features.2.")}, partial)
    with pytest.raises(ValueError, match=r"missing VGG-19 key 'features\.2\.weight'"):
        VGG19Features.from_file(str(partial), layers=("relu1_2",))
    wrong = tmp_path / "wrong.pth"
    torch.save({**vgg_state, "features.0.weight": torch.zeros(8, 3, 3, 3)}, wrong)
    with pytest.raises(ValueError, match=r"features\.0\.weight"):
        VGG19Features.from_file(str(wrong), layers=("relu1_1",))
    with pytest.raises(ValueError, match="relu9_9"):
        VGG19Features(layers=("relu9_9",))


def test_losses_record_says_when_vgg_is_off(tmp_path) -> None:
    record = losses_record(LossConfig(adversarial=0.0), None, adversarial=False)
    assert record["losses_active"] == ["l1", "multiview"]
    assert record["perceptual_style"] == "off — no VGG-19 weights configured (losses.vgg_weights)"
    assert record["weights"]["style"] == 100.0
    url = str(tmp_path / "losses.json")
    save_losses_record(url, record)
    assert json.loads((tmp_path / "losses.json").read_text()) == record


def test_vgg_status_names_layout_and_file(vgg_file, caplog) -> None:
    config = LossConfig(vgg_weights=vgg_file, style=0.0, vgg_layers=("relu1_2",))
    with caplog.at_level(logging.INFO, logger="dpt_core.losses"):
        loss = build_vgg_loss(config)
    on = (
        "on (perceptual only) — VGG-19 (torchvision layout, torchvision preprocessing) "
        f"from {vgg_file}"
    )
    assert vgg_status(config, loss) == on
    assert f"perceptual and style losses: {on}" in caplog.messages
    assert losses_record(config, loss, adversarial=True)["losses_active"] == [
        "l1", "perceptual", "adversarial", "multiview",
    ]  # fmt: skip
    zero = LossConfig(vgg_weights=vgg_file, perceptual=0.0, style=0.0)
    assert vgg_status(zero, loss) == "off — losses.perceptual and losses.style are 0"
