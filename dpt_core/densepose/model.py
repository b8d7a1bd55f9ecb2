"""Build DensePose R-CNN on detectron2 and run it batched on RGB images (CPU or CUDA)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.data import transforms as T
from detectron2.modeling import build_model
from detectron2.structures import Instances

from dpt_core import storage
from dpt_core.densepose.config import load_config
from dpt_core.densepose.options import DEFAULT_CONFIG, Overlap, PersonMode
from dpt_core.densepose.postprocess import DensePoseResult, chart_outputs_to_iuv
from dpt_core.densepose.roi_heads import register_densepose
from dpt_core.densepose.weights import WeightsInfo, load_weights, save_weights

logger = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when available else ``"cpu"``; other values are checked."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} requested but CUDA is not available")
    if not device.startswith(("cpu", "cuda")):
        raise ValueError(f"device: expected 'cpu', 'cuda[:N]' or 'auto', got {device!r}")
    return device


def _check_image(image_rgb: np.ndarray, index: int) -> None:
    if not isinstance(image_rgb, np.ndarray) or image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        shape = getattr(image_rgb, "shape", type(image_rgb).__name__)
        raise ValueError(f"images_rgb[{index}]: expected an (H, W, 3) array, got {shape}")
    if image_rgb.dtype != np.uint8:
        raise ValueError(f"images_rgb[{index}]: expected dtype uint8, got {image_rgb.dtype}")


class DensePoseModel:
    """A built (and usually weight-loaded) DensePose R-CNN in eval mode.

    ``forward`` is the bare detectron2 inference; ``predict`` adds same-size batching and our
    IUV post-processing.
    """

    def __init__(self, model: torch.nn.Module, cfg: CfgNode, weights: WeightsInfo | None):
        self.model = model.eval()
        self.cfg = cfg
        self.weights = weights
        min_size, max_size = cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST
        self._resize = T.ResizeShortestEdge([min_size, min_size], max_size) if min_size else None

    @classmethod
    def build(
        cls,
        config: str | Path = DEFAULT_CONFIG,
        weights: str | None = None,
        device: str = "cpu",
        allow_pickle: bool = False,
        overrides: Mapping[str, Any] | Sequence[str] = (),
    ) -> DensePoseModel:
        """Build from a shipped config name or YAML path; load ``weights`` when given.

        Without weights the model is randomly initialised (tests, benchmarks) and says so.
        """
        if weights and not storage.exists(weights):
            raise FileNotFoundError(f"DensePose weights not found: {weights}")
        cfg = load_config(config, overrides, resolve_device(device))
        register_densepose()
        model = build_model(cfg)
        info = None
        if weights:
            info = load_weights(model, weights, allow_pickle=allow_pickle)
        else:
            logger.warning("DensePose model %s has random weights (no --weights given)", config)
        return cls(model, cfg, info)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _to_input(self, image_rgb: np.ndarray) -> dict[str, Any]:
        height, width = image_rgb.shape[:2]
        image = image_rgb[..., ::-1] if self.cfg.INPUT.FORMAT == "BGR" else image_rgb
        if self._resize is not None:
            image = self._resize.get_transform(image).apply_image(image)
        chw = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        return {"image": chw.to(self.device), "height": height, "width": width}

    @torch.inference_mode()
    def forward(self, images_rgb: Sequence[np.ndarray]) -> list[Instances]:
        """Bare detectron2 inference on one batch of (H, W, 3) uint8 RGB images.

        Returns per image an ``Instances`` in image pixels with ``pred_boxes``, ``scores``
        and ``pred_densepose`` (:class:`~dpt_core.densepose.heads.ChartOutputs`).
        """
        for i, image in enumerate(images_rgb):
            _check_image(image, i)
        if not images_rgb:
            return []
        outputs = self.model.inference([self._to_input(im) for im in images_rgb])
        return [out["instances"] for out in outputs]

    @torch.inference_mode()
    def predict(
        self,
        images_rgb: Sequence[np.ndarray],
        mode: PersonMode = "all",
        batch_size: int = 8,
        overlap: Overlap = "score",
    ) -> list[list[DensePoseResult]]:
        """IUV results per image, in input order (see ``chart_outputs_to_iuv``).

        Only images of the same size share a forward pass (up to ``batch_size``): detectron2
        pads a batch to its largest image, which would change features near the right and
        bottom edges of the smaller ones, so mixing sizes would make results depend on the
        batch.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size: expected ≥ 1, got {batch_size}")
        for i, image in enumerate(images_rgb):
            _check_image(image, i)
        results: dict[int, list[DensePoseResult]] = {}
        for indices in same_size_batches(images_rgb, batch_size):
            batch = [images_rgb[i] for i in indices]
            for i, image, inst in zip(indices, batch, self.forward(batch), strict=True):
                results[i] = chart_outputs_to_iuv(
                    inst.pred_densepose,
                    inst.pred_boxes.tensor,
                    inst.scores,
                    image.shape[:2],
                    mode,
                    overlap,
                )
        return [results[i] for i in range(len(images_rgb))]


def same_size_batches(images: Sequence[np.ndarray], batch_size: int) -> list[list[int]]:
    """Indices of ``images`` in batches of at most ``batch_size`` images of one (H, W).

    Sizes come in order of first appearance, indices ascending within a size.
    """
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, image in enumerate(images):
        by_size.setdefault(tuple(image.shape[:2]), []).append(i)
    return [
        group[start : start + batch_size]
        for group in by_size.values()
        for start in range(0, len(group), batch_size)
    ]


def save_random_weights(
    url: str,
    config: str | Path = DEFAULT_CONFIG,
    fmt: Literal["pth", "pkl"] = "pth",
    seed: int = 0,
    detect_everywhere: bool = True,
) -> None:
    """Save a randomly initialised DensePose R-CNN under the official key names.

    For tests and benchmarks (no real weights are downloadable here). ``detect_everywhere``
    makes the box classifier call every proposal a person (box deltas zero) and the coarse
    segmentation call every box pixel foreground, so inference yields people with bodies.
    """
    torch.manual_seed(seed)
    cfg = load_config(config)
    register_densepose()
    model = build_model(cfg)
    if detect_everywhere:
        heads = model.roi_heads
        with torch.no_grad():
            for layer in (heads.box_predictor.cls_score, heads.box_predictor.bbox_pred):
                layer.weight.zero_()
                layer.bias.zero_()
            heads.box_predictor.cls_score.bias[0] = 4.0  # person logit vs background 0
            coarse = heads.densepose_predictor.ann_index_lowres
            coarse.weight.zero_()
            coarse.bias.copy_(torch.linspace(-1.0, 1.0, coarse.bias.numel()))
    save_weights(model, url, fmt)
