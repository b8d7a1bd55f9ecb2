"""Shipped configs, config validation and explicit, idempotent registration."""

from __future__ import annotations

import subprocess
import sys

import pytest
from detectron2.modeling import ROI_HEADS_REGISTRY

from dpt_core.densepose.config import CONFIG_DIR, SHIPPED_CONFIGS, load_config
from dpt_core.densepose.roi_heads import DensePoseROIHeads, register_densepose


@pytest.mark.parametrize("name", SHIPPED_CONFIGS)
def test_every_shipped_config_loads_frozen(name):
    cfg = load_config(name)
    assert cfg.is_frozen()
    assert cfg.MODEL.ROI_HEADS.NAME == "DensePoseROIHeads"
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 1
    depth = cfg.MODEL.RESNETS.DEPTH
    assert depth == (101 if "R_101" in name else 50)
    assert cfg.MODEL.ROI_DENSEPOSE_HEAD.POOLER_TYPE == "ROIAlign"
    assert cfg.MODEL.ROI_HEADS.IN_FEATURES == ["p2", "p3", "p4", "p5"]
    assert cfg.MODEL.ROI_DENSEPOSE_HEAD.UV_CONFIDENCE.ENABLED is False


def test_s1x_and_legacy_differ_as_published():
    s1x = load_config("densepose_rcnn_R_50_FPN_s1x").MODEL.ROI_DENSEPOSE_HEAD
    legacy = load_config("densepose_rcnn_R_50_FPN_s1x_legacy").MODEL.ROI_DENSEPOSE_HEAD
    assert (s1x.DECODER_ON, s1x.NUM_COARSE_SEGM_CHANNELS) == (True, 2)
    assert (s1x.POOLER_RESOLUTION, s1x.HEATMAP_SIZE) == (28, 112)
    assert (legacy.DECODER_ON, legacy.NUM_COARSE_SEGM_CHANNELS) == (False, 15)
    assert (legacy.POOLER_RESOLUTION, legacy.HEATMAP_SIZE) == (14, 56)
    assert (s1x.NUM_STACKED_CONVS, s1x.CONV_HEAD_DIM, s1x.DECONV_KERNEL, s1x.UP_SCALE) == (
        8,
        512,
        4,
        2,
    )


def test_dl_configs_differ_from_s1x_only_by_the_head():
    for depth in (50, 101):
        dl = load_config(f"densepose_rcnn_R_{depth}_FPN_DL_s1x")
        s1x = load_config(f"densepose_rcnn_R_{depth}_FPN_s1x")
        head = dl.MODEL.ROI_DENSEPOSE_HEAD
        assert head.NAME == "DensePoseDeepLabHead" and head.DECODER_ON
        assert (head.DEEPLAB.NORM, head.DEEPLAB.NONLOCAL_ON) == ("GN", 0)  # official defaults
        dl.defrost()
        dl.MODEL.ROI_DENSEPOSE_HEAD.NAME = "DensePoseV1ConvXHead"
        assert dl.dump() == s1x.dump()


def test_overrides_and_device_apply():
    cfg = load_config(
        "densepose_rcnn_R_50_FPN_s1x",
        {"MODEL.ROI_HEADS.SCORE_THRESH_TEST": 0.3, "INPUT.MIN_SIZE_TEST": 0},
    )
    threshold = cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST
    assert threshold == pytest.approx(0.3)
    assert cfg.INPUT.MIN_SIZE_TEST == 0 and cfg.MODEL.DEVICE == "cpu"
    cfg = load_config("densepose_rcnn_R_50_FPN_s1x", ["TEST.DETECTIONS_PER_IMAGE", "3"])
    assert cfg.TEST.DETECTIONS_PER_IMAGE == 3


def test_user_yaml_with_relative_base(tmp_path):
    shipped_base = CONFIG_DIR / "Base-DensePose-RCNN-FPN.yaml"
    (tmp_path / shipped_base.name).write_bytes(shipped_base.read_bytes())
    mine = tmp_path / "mine.yaml"
    mine.write_text("_BASE_: Base-DensePose-RCNN-FPN.yaml\nMODEL:\n  RESNETS:\n    DEPTH: 101\n")
    cfg = load_config(str(mine))
    assert cfg.MODEL.RESNETS.DEPTH == 101 and cfg.MODEL.ROI_HEADS.NAME == "DensePoseROIHeads"


@pytest.mark.parametrize(
    ("config", "overrides", "message"),
    [
        ("densepose_rcnn_R_50_FPN_WC1_s1x", {}, "unknown DensePose config"),
        ("densepose_rcnn_R_50_FPN_s1x", {"MODEL.NOT_A_FIELD": 1}, "NOT_A_FIELD"),
        (
            "densepose_rcnn_R_50_FPN_s1x",
            {"MODEL.ROI_DENSEPOSE_HEAD.UV_CONFIDENCE.ENABLED": True},
            "confidences",
        ),
        ("densepose_rcnn_R_50_FPN_s1x", {"MODEL.ROI_DENSEPOSE_HEAD.HEATMAP_SIZE": 56}, "HEATMAP"),
        (
            "densepose_rcnn_R_50_FPN_s1x",
            {"MODEL.ROI_DENSEPOSE_HEAD.NAME": "DensePoseV1ConvXHeadPlus"},
            "DensePoseV1ConvXHeadPlus",
        ),
    ],
)
def test_unsupported_configs_are_refused_clearly(config, overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config(config, overrides)


def test_missing_yaml_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        load_config(str(tmp_path / "nope.yaml"))


def test_register_is_explicit_and_idempotent(monkeypatch):
    register_densepose()
    register_densepose()
    assert ROI_HEADS_REGISTRY.get("DensePoseROIHeads") is DensePoseROIHeads
    monkeypatch.setitem(ROI_HEADS_REGISTRY._obj_map, "DensePoseROIHeads", object)
    with pytest.raises(RuntimeError, match="already holds DensePoseROIHeads"):
        register_densepose()


@pytest.mark.slow  # a fresh interpreter importing detectron2: ~10 s on a busy 2-core box
def test_importing_registers_nothing():
    code = (
        "import dpt_core.densepose.model\n"
        "from detectron2.modeling import ROI_HEADS_REGISTRY\n"
        "print('DensePoseROIHeads' in ROI_HEADS_REGISTRY)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
