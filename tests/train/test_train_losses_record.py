"""A run says which losses it optimises: in its log and in ``runs/RUN/losses.json`` (read by
the eval report), with and without VGG-19 weights (here random, in the Caffe layout)."""

from __future__ import annotations

import json
import logging
import math

import torch
from torchvision.models.vgg import cfgs, make_layers

from dpt_core import losses, storage
from dpt_core.evaluate.report import losses_line
from dpt_core.models.vgg import CONV_NAMES
from dpt_core.train import train
from dpt_core.train.metrics_log import read_metrics
from dpt_core.train.steps import image_losses


def test_run_without_vgg_records_and_logs_it(tiny_config, caplog, monkeypatch) -> None:
    monkeypatch.setattr(losses, "_warned_no_vgg", False)
    config = tiny_config()
    with caplog.at_level(logging.INFO, logger="dpt_core"):
        train(config, stop_at=1)
    record = json.loads(storage.read_bytes(f"{config.run_url}/losses.json"))
    assert record["losses_active"] == ["l1", "adversarial", "multiview"]
    off = "off — no VGG-19 weights configured (losses.vgg_weights)"
    assert record["perceptual_style"] == off
    assert any("perceptual and style losses are off" in m for m in caplog.messages)
    assert "losses active: l1, adversarial, multiview" in caplog.messages
    expected = f"Perceptual/style losses: {off}; losses active: l1, adversarial, multiview"
    assert losses_line(config.run_url) == expected


def test_run_with_caffe_layout_vgg_optimises_perceptual_and_style(tiny_config, tmp_path) -> None:
    torch.manual_seed(5)
    state = make_layers(cfgs["E"]).state_dict()
    caffe = {f"{CONV_NAMES[int(k.split('.')[0])]}.{k.split('.')[1]}": v for k, v in state.items()}
    path = tmp_path / "vgg19_caffe_names.pth"
    torch.save(caffe, path)
    config = tiny_config(f"losses.vgg_weights={path}")
    train(config, stop_at=3)  # steps 1-2: inpainter, 3: predictive
    record = json.loads(storage.read_bytes(f"{config.run_url}/losses.json"))
    assert record["losses_active"] == ["l1", "perceptual", "style", "adversarial", "multiview"]
    on = "on — VGG-19 (caffe layout, caffe preprocessing) from " + str(path)
    assert record["perceptual_style"] == on
    row = read_metrics(config.run_url).to_pylist()[-1]
    assert row["step"] == 3 and row["stage"] == "predictive"
    assert math.isfinite(row["perceptual"]) and row["perceptual"] > 0
    assert math.isfinite(row["style"]) and row["style"] > 0


def test_person_l1_weight_adds_the_masked_term_by_hand() -> None:
    target = torch.zeros(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1.0  # the person: the top half
    pred = torch.zeros(1, 3, 4, 4, requires_grad=True)
    with torch.no_grad():
        pred[..., :2, :] = 0.4  # off by 0.4 on the person, exact on the background
    batch = {"target": target, "target_mask": mask}
    plain, total = image_losses(pred, batch, None, losses.LossConfig())
    assert math.isclose(total.item(), 0.2, rel_tol=1e-6)  # whole-image mean
    assert math.isclose(plain["l1_person"].item(), 0.4, rel_tol=1e-6)
    _, weighted = image_losses(pred, batch, None, losses.LossConfig(l1_person=2.0))
    assert math.isclose(weighted.item(), 0.2 + 2.0 * 0.4, rel_tol=1e-6)
    weighted.backward()
    grad = pred.grad[0, 0]
    assert math.isclose(grad[0, 0].item(), 1 / 48 + 2.0 / 24, rel_tol=1e-5)  # person pixel
    assert grad[3, 3].item() == 0.0  # background: exact, |x| has 0 subgradient at 0
