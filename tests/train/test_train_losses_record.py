"""A run says which losses it optimises: in its log and in ``runs/RUN/losses.json`` (read by
the eval report), with and without VGG-19 weights (here random, in the Caffe layout)."""

from __future__ import annotations

import json
import logging
import math

import torch
from torchvision.models.vgg import cfgs, make_layers

from dpt_core import losses, storage
from dpt_core.models.vgg import CONV_NAMES
from dpt_core.report import losses_line
from dpt_core.train import train
from dpt_core.train.metrics_log import read_metrics


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
