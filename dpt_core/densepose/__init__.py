"""DensePose R-CNN on detectron2, other IUV sources, and the extract-densepose stage.

Modules by role: ``config`` (DensePose config fields, shipped YAML), ``heads`` / ``deeplab`` /
``roi_heads`` (the network, official key names, explicit :func:`register_densepose`), ``weights``
(.pth / model-zoo .pkl loading), ``model`` (batched inference), ``postprocess`` (outputs →
IUV), ``precomputed`` and ``extractors`` (IUV sources), ``records`` / ``stage`` (results, shards and
manifests), ``visualize`` and ``cli``.

Names below are imported lazily, so importing this package does not load detectron2.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DensePoseModel": "dpt_core.densepose.model",
    "register_densepose": "dpt_core.densepose.roi_heads",
    "DensePoseROIHeads": "dpt_core.densepose.roi_heads",
    "DensePoseDeepLabHead": "dpt_core.densepose.deeplab",
    "load_config": "dpt_core.densepose.config",
    "load_weights": "dpt_core.densepose.weights",
    "save_weights": "dpt_core.densepose.weights",
    "chart_outputs_to_iuv": "dpt_core.densepose.postprocess",
    "DensePoseResult": "dpt_core.densepose.records",
    "Extraction": "dpt_core.densepose.records",
    "ExtractOptions": "dpt_core.densepose.options",
    "extract_shard": "dpt_core.densepose.stage",
    "extract_dataset": "dpt_core.densepose.stage",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dpt_core.densepose' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
