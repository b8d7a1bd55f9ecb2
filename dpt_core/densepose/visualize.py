"""Overlays of IUV images on photos: coloured body parts and U/V iso-contours (PNG panels)."""

from __future__ import annotations

import logging
import re

import cv2
import numpy as np

from dpt_core import iuv, storage
from dpt_core.data import shards
from dpt_core.densepose.extractors import IMAGE_EXTS, decode_image_rgb

logger = logging.getLogger(__name__)

U_COLOR_MAP = cv2.COLORMAP_AUTUMN
V_COLOR_MAP = cv2.COLORMAP_WINTER
_PERSON_SUFFIX = re.compile(r"_p\d{2}$")


def _check_pair(image_rgb: np.ndarray, iuv_hw3: np.ndarray) -> None:
    iuv.validate_iuv(iuv_hw3, "iuv_hw3")
    if image_rgb.shape != iuv_hw3.shape or image_rgb.dtype != np.uint8:
        raise ValueError(
            f"image_rgb: expected uint8 {iuv_hw3.shape} like the IUV, got "
            f"{image_rgb.dtype} {image_rgb.shape}"
        )


def part_colors_rgb() -> np.ndarray:
    """(25, 3) uint8 colour per part id (row 0, background, is black)."""
    ramp = np.round(np.arange(iuv.N_PARTS + 1) * 255.0 / iuv.N_PARTS).astype(np.uint8)
    colors = cv2.applyColorMap(ramp[:, None], cv2.COLORMAP_PARULA)[:, 0, ::-1].copy()
    colors[0] = 0
    return colors


def parts_overlay(image_rgb: np.ndarray, iuv_hw3: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """(H, W, 3) uint8 RGB: body pixels blended with their part colour (weight ``alpha``)."""
    _check_pair(image_rgb, iuv_hw3)
    labels = iuv_hw3[..., 0]
    colored = part_colors_rgb()[labels].astype(np.float32)
    blend = (1.0 - alpha) * image_rgb.astype(np.float32) + alpha * colored
    out = np.where((labels > 0)[..., None], np.round(blend), image_rgb)
    return out.astype(np.uint8)


def _level_edges(levels_hw: np.ndarray, labels_hw: np.ndarray) -> np.ndarray:
    """True where the level changes towards the right or lower neighbour on the same part."""
    edges = np.zeros(levels_hw.shape, dtype=bool)
    same_x = (labels_hw[:, 1:] == labels_hw[:, :-1]) & (labels_hw[:, 1:] > 0)
    same_y = (labels_hw[1:, :] == labels_hw[:-1, :]) & (labels_hw[1:, :] > 0)
    edges[:, :-1] |= same_x & (levels_hw[:, 1:] != levels_hw[:, :-1])
    edges[:-1, :] |= same_y & (levels_hw[1:, :] != levels_hw[:-1, :])
    return edges


def uv_contours(image_rgb: np.ndarray, iuv_hw3: np.ndarray, levels: int = 10) -> np.ndarray:
    """(H, W, 3) uint8 RGB: U and V iso-lines at ``levels`` steps, coloured by value."""
    _check_pair(image_rgb, iuv_hw3)
    if levels < 1:
        raise ValueError(f"levels: expected >= 1, got {levels}")
    labels = iuv_hw3[..., 0]
    out = image_rgb.copy()
    for channel, colormap in ((1, U_COLOR_MAP), (2, V_COLOR_MAP)):
        values = iuv_hw3[..., channel].astype(np.int32)
        step = (values * levels) // 256
        edges = _level_edges(step, labels)
        colors = cv2.applyColorMap(values.astype(np.uint8), colormap)[..., ::-1]
        out[edges] = colors[edges]
    return out


def panel(image_rgb: np.ndarray | None, iuv_hw3: np.ndarray) -> np.ndarray:
    """Side by side: image | parts overlay | U/V contours (black background without image)."""
    iuv.validate_iuv(iuv_hw3, "iuv_hw3")
    base = np.zeros_like(iuv_hw3) if image_rgb is None else image_rgb
    return np.concatenate([base, parts_overlay(base, iuv_hw3), uv_contours(base, iuv_hw3)], axis=1)


def encode_png_rgb(image_rgb: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 RGB image."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image_rgb[..., ::-1]))
    if not ok:  # pragma: no cover - cv2 fails here only on out-of-memory
        raise ValueError("image_rgb: could not encode PNG")
    return buf.tobytes()


def _images_by_key(image_shard_url: str | None, keys: set[str]) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    if image_shard_url is None:
        return found
    for sample in shards.iter_shard(image_shard_url):
        key = str(sample["__key__"])
        data = next((sample[e] for e in IMAGE_EXTS if e in sample), None)
        if key in keys and isinstance(data, bytes):
            found[key] = decode_image_rgb(data)
    return found


def _image_key(iuv_key: str) -> str:
    """Dataset key of an IUV key: ``KEY_pNN`` (mode "each") → ``KEY``; others unchanged."""
    return _PERSON_SUFFIX.sub("", iuv_key)


def show_shard(
    iuv_shard_url: str, out_url: str, image_shard_url: str | None = None, limit: int = 16
) -> list[str]:
    """Write ``out_url/KEY.png`` panels for the first ``limit`` samples of an IUV shard.

    Background photos come from ``image_shard_url`` (a dataset shard) by image key; IUV keys
    ``KEY_pNN`` (one per person) use image ``KEY``. Returns the written URLs.
    """
    picked = []
    for sample in shards.iter_shard(iuv_shard_url):
        if len(picked) >= limit:
            break
        if "iuv.png" in sample:
            picked.append((str(sample["__key__"]), iuv.read_iuv(bytes(sample["iuv.png"]))))
    wanted = {k for key, _ in picked for k in (key, _image_key(key))}
    images = _images_by_key(image_shard_url, wanted)
    storage.makedirs(out_url)
    written = []
    for key, iuv_hw3 in picked:
        image = images.get(key, images.get(_image_key(key)))
        if image is not None and image.shape != iuv_hw3.shape:
            logger.warning("%s: image %s != IUV %s: black", key, image.shape, iuv_hw3.shape)
            image = None
        url = storage.join(out_url, f"{key}.png")
        storage.write_bytes(url, encode_png_rgb(panel(image, iuv_hw3)))
        written.append(url)
    return written
