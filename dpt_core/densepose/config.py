"""DensePose R-CNN configuration: detectron2 defaults → shipped YAML → overrides → frozen.

The DensePose fields live under ``MODEL.ROI_DENSEPOSE_HEAD`` with the names detectron2's
DensePose project uses, so its YAML files (and ours in ``configs/densepose/``) merge unchanged.
Only the chart-based models are implemented: the 8-conv and DeepLab heads, the chart predictor
and the Panoptic-FPN decoder; UV/segmentation confidences (WC models) are refused clearly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from detectron2.config import CfgNode, get_cfg

from dpt_core import storage
from dpt_core.densepose.options import DEFAULT_CONFIG, SHIPPED_CONFIGS

logger = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "densepose"
HEAD_NAMES = ("DensePoseV1ConvXHead", "DensePoseDeepLabHead")
_MAX_BASE_DEPTH = 8


def add_densepose_config(cfg: CfgNode) -> None:
    """Add the DensePose fields (official names and defaults) to a detectron2 config in place."""
    cfg.MODEL.DENSEPOSE_ON = True
    head = cfg.MODEL.ROI_DENSEPOSE_HEAD = CfgNode()
    head.NAME = "DensePoseV1ConvXHead"
    head.PREDICTOR_NAME = "DensePoseChartPredictor"
    head.NUM_STACKED_CONVS = 8
    head.NUM_PATCHES = 24
    head.DECONV_KERNEL = 4
    head.CONV_HEAD_DIM = 512
    head.CONV_HEAD_KERNEL = 3
    head.UP_SCALE = 2
    head.HEATMAP_SIZE = 112
    head.POOLER_TYPE = "ROIAlignV2"
    head.POOLER_RESOLUTION = 28
    head.POOLER_SAMPLING_RATIO = 2
    head.NUM_COARSE_SEGM_CHANNELS = 2  # 2 = foreground/background, 15 = legacy 14 parts + bg
    # Training-only fields, kept so official YAML files merge without errors.
    head.FG_IOU_THRESHOLD = 0.7
    head.INDEX_WEIGHTS = 5.0
    head.PART_WEIGHTS = 1.0
    head.POINT_REGRESSION_WEIGHTS = 0.01
    head.COARSE_SEGM_TRAINED_BY_MASKS = False
    # Panoptic-FPN decoder merging p2..p5 before pooling (the s1x models).
    head.DECODER_ON = True
    head.DECODER_NUM_CLASSES = 256
    head.DECODER_CONV_DIMS = 256
    head.DECODER_NORM = ""
    head.DECODER_COMMON_STRIDE = 4
    head.DEEPLAB = CfgNode({"NORM": "GN", "NONLOCAL_ON": 0})  # DensePoseDeepLabHead
    head.UV_CONFIDENCE = CfgNode({"ENABLED": False, "EPSILON": 0.01, "TYPE": "iid_iso"})
    head.SEGM_CONFIDENCE = CfgNode({"ENABLED": False, "EPSILON": 0.01})


def config_url(config: str | Path) -> str:
    """Resolve a shipped config name (e.g. ``densepose_rcnn_R_50_FPN_s1x``) or a YAML path/URL."""
    text = str(config)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        return text
    if text not in SHIPPED_CONFIGS:
        raise ValueError(
            f"config: unknown DensePose config {text!r}; shipped: {', '.join(SHIPPED_CONFIGS)} "
            "(or give a path to a .yaml file)"
        )
    return str(CONFIG_DIR / f"{text}.yaml")


def _deep_merge(base: dict[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in child.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _read_yaml_with_base(url: str, depth: int = 0) -> dict[str, Any]:
    if depth > _MAX_BASE_DEPTH:
        raise ValueError(f"config: _BASE_ chain deeper than {_MAX_BASE_DEPTH} at {url}")
    try:
        data = yaml.safe_load(storage.read_bytes(url)) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"config: {url} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config: {url} must hold a mapping at the top level")
    base = data.pop("_BASE_", None)
    if base is None:
        return data
    relative = "://" not in base and not base.startswith("/")
    base_url = f"{url.rsplit('/', 1)[0]}/{base}" if relative else base
    return _deep_merge(_read_yaml_with_base(base_url, depth + 1), data)


def _override_list(overrides: Mapping[str, Any] | Sequence[str]) -> list[str]:
    if isinstance(overrides, Mapping):
        return [item for key, value in overrides.items() for item in (key, repr(value))]
    items = list(overrides)
    if len(items) % 2:
        raise ValueError(f"overrides: expected KEY VALUE pairs, got an odd list {items}")
    return items


def load_config(
    config: str | Path = DEFAULT_CONFIG,
    overrides: Mapping[str, Any] | Sequence[str] = (),
    device: str = "cpu",
) -> CfgNode:
    """Build the frozen config: detectron2 defaults + DensePose fields + YAML + overrides.

    ``overrides`` is ``{"MODEL.ROI_HEADS.SCORE_THRESH_TEST": 0.5}`` or a flat
    ``["KEY", "VALUE", ...]`` list; ``device`` sets ``MODEL.DEVICE``.
    """
    url = config_url(config)
    cfg = get_cfg()
    add_densepose_config(cfg)
    try:
        cfg.merge_from_other_cfg(CfgNode(_read_yaml_with_base(url)))
        cfg.merge_from_list(_override_list(overrides))
    except (KeyError, AssertionError, TypeError, ValueError) as exc:
        raise ValueError(f"config: {url}: {exc}") from None
    cfg.MODEL.DEVICE = device
    check_config(cfg)
    cfg.freeze()
    logger.info("DensePose config %s on %s", url, device)
    return cfg


def check_config(cfg: CfgNode) -> None:
    """Raise ValueError when ``cfg`` asks for a DensePose variant this package does not build."""
    head = cfg.MODEL.ROI_DENSEPOSE_HEAD
    problems = []
    if cfg.MODEL.ROI_HEADS.NAME != "DensePoseROIHeads" or not cfg.MODEL.DENSEPOSE_ON:
        problems.append("MODEL.ROI_HEADS.NAME must be DensePoseROIHeads with DENSEPOSE_ON")
    if head.NAME not in HEAD_NAMES:
        problems.append(f"head {head.NAME!r} is not built (only {', '.join(HEAD_NAMES)})")
    if head.NAME == "DensePoseDeepLabHead" and head.DEEPLAB.NORM not in ("GN", ""):
        problems.append(f"DEEPLAB.NORM must be 'GN' or '', not {head.DEEPLAB.NORM!r}")
    if head.PREDICTOR_NAME != "DensePoseChartPredictor":
        problems.append(f"predictor {head.PREDICTOR_NAME!r} is not built")
    if head.UV_CONFIDENCE.ENABLED or head.SEGM_CONFIDENCE.ENABLED:
        problems.append("UV / segmentation confidences (WC models) are not supported")
    if head.NUM_COARSE_SEGM_CHANNELS not in (2, 15):
        problems.append(
            f"NUM_COARSE_SEGM_CHANNELS must be 2 or 15, not {head.NUM_COARSE_SEGM_CHANNELS}"
        )
    if head.DECONV_KERNEL % 2:
        problems.append(f"DECONV_KERNEL must be even, got {head.DECONV_KERNEL}")
    expected = head.POOLER_RESOLUTION * 2 * head.UP_SCALE
    if expected != head.HEATMAP_SIZE:
        problems.append(
            f"HEATMAP_SIZE {head.HEATMAP_SIZE} != POOLER_RESOLUTION x 2 x UP_SCALE = {expected}"
        )
    if problems:
        raise ValueError("config: " + "; ".join(problems))
