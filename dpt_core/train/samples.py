"""One training sample from its shard members, and batches of them.

A sample's members: the image (``png`` / ``jpg``), ``iuv.png``, optionally ``mask.png`` and a
precomputed texture (``tex.png`` + ``vis.png``). Images whose size differs from the model's
``image_size`` are padded to a square (the image by repeating its edge pixels, IUV and mask
with background) and resized: the image with area / bilinear interpolation, IUV and mask with
nearest neighbour, so part ids and chart coordinates are never blended. Edge pixels, not a
constant colour: a generator copies the source's background, and white bars beside a 64 × 128
re-id crop came out as white bars in its renders (``benchmarks/RESULTS.md``, re-id value).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from dpt_core.atlas import atlas_shape, scatter_torch
from dpt_core.densepose.extractors import IMAGE_EXTS, decode_image_rgb
from dpt_core.iuv import decode_iuv_png
from dpt_core.textures import decode_texture


@dataclass(frozen=True, eq=False)
class Sample:
    """Decoded tensors: ``image`` (3, S, S) float [-1, 1], ``iuv`` (3, S, S) uint8, ``mask``
    (1, S, S) float 0/1, ``texture`` ((3, 6n, 4n) float [-1, 1], (1, 6n, 4n) float 0/1) or None."""

    key: str
    image: torch.Tensor
    iuv: torch.Tensor
    mask: torch.Tensor
    texture: tuple[torch.Tensor, torch.Tensor] | None


def fit_square(array_hwc: np.ndarray, size: int, nearest: bool, fill: int | None) -> np.ndarray:
    """Pad (H, W[, C]) centred to a square with ``fill`` (None: the edge pixels repeated) and
    resize to (size, size)."""
    h, w = array_hwc.shape[:2]
    if (h, w) == (size, size):
        return array_hwc
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    borders = (top, side - h - top, left, side - w - left)
    if fill is None:
        padded = cv2.copyMakeBorder(array_hwc, *borders, cv2.BORDER_REPLICATE)
    else:
        padded = cv2.copyMakeBorder(array_hwc, *borders, cv2.BORDER_CONSTANT, value=[fill] * 3)
    smooth = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    mode = cv2.INTER_NEAREST if nearest else smooth
    return cv2.resize(padded, (size, size), interpolation=mode)


def _image(members: dict[str, bytes], key: str) -> np.ndarray:
    data = next((members[e] for e in IMAGE_EXTS if e in members), None)
    if data is None:
        raise ValueError(f"{key}: no image member (png/jpg)")
    try:
        return decode_image_rgb(data)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


def _texture(members: dict[str, bytes], atlas_n: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    if "tex.png" not in members or "vis.png" not in members:
        return None
    atlas_rgb, visible = decode_texture(members["tex.png"], members["vis.png"])
    if atlas_rgb.shape[:2] != atlas_shape(atlas_n):
        return None
    vis = torch.from_numpy(visible.astype(np.float32))[None]
    atlas = torch.from_numpy(atlas_rgb).permute(2, 0, 1).float() / 127.5 - 1.0
    return atlas * vis, vis


def decode_sample(key: str, members: dict[str, bytes], image_size: int, atlas_n: int) -> Sample:
    """Decode and resize one sample; ValueError naming ``key`` when a member is unusable."""
    image = _image(members, key)
    iuv = decode_iuv_png(members["iuv.png"], name=f"{key}.iuv.png")
    if iuv.shape[:2] != image.shape[:2]:
        raise ValueError(f"{key}: image {image.shape[:2]} and IUV {iuv.shape[:2]} sizes differ")
    if "mask.png" in members:
        mask = cv2.imdecode(np.frombuffer(members["mask.png"], np.uint8), cv2.IMREAD_GRAYSCALE)
        if mask is None or mask.shape != image.shape[:2]:
            raise ValueError(f"{key}: mask.png is corrupt or of another size")
        mask = mask > 127
    else:
        mask = iuv[..., 0] > 0
    image = fit_square(image, image_size, nearest=False, fill=None)
    iuv = fit_square(iuv, image_size, nearest=True, fill=0)
    mask = fit_square(mask.astype(np.uint8), image_size, nearest=True, fill=0)
    return Sample(
        key,
        torch.from_numpy(image).permute(2, 0, 1).float() / 127.5 - 1.0,
        torch.from_numpy(np.ascontiguousarray(iuv)).permute(2, 0, 1).contiguous(),
        torch.from_numpy(mask.astype(np.float32))[None],
        _texture(members, atlas_n),
    )


def partial_textures(samples: list[Sample], atlas_n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(partial atlases (B, 3, 6n, 4n), visibility (B, 1, 6n, 4n)): precomputed where present,
    else scattered from the (resized) image with ``scatter_torch``."""
    todo = [i for i, s in enumerate(samples) if s.texture is None]
    scattered = iter(())
    if todo:
        images = torch.stack([samples[i].image for i in todo])
        iuvs = torch.stack([samples[i].iuv for i in todo])
        scattered = zip(*scatter_torch(images, iuvs, atlas_n), strict=True)
    textures = {i: t for i, t in zip(todo, scattered, strict=True)}
    pairs = [textures[i] if s.texture is None else s.texture for i, s in enumerate(samples)]
    return torch.stack([a for a, _ in pairs]), torch.stack([v for _, v in pairs])


def collate_pairs(pairs: list[tuple[Sample, Sample]], persons: list[int], atlas_n: int) -> dict:
    """A pair batch (see ``dpt_core.train.data``)."""
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    partial, visibility = partial_textures(sources, atlas_n)
    return {
        "source": torch.stack([s.image for s in sources]),
        "source_iuv": torch.stack([s.iuv for s in sources]),
        "target": torch.stack([t.image for t in targets]),
        "target_iuv": torch.stack([t.iuv for t in targets]),
        "target_mask": torch.stack([t.mask for t in targets]),
        "partial_atlas": partial,
        "visibility": visibility,
        "person": torch.tensor(persons, dtype=torch.int64),
        "keys": [f"{s.key}>{t.key}" for s, t in pairs],
    }


def collate_multiview(groups: list[list[Sample]], persons: list[int], atlas_n: int) -> dict:
    """A multi-view batch: ``len(groups)`` persons × ``views`` samples, flattened."""
    samples = [s for group in groups for s in group]
    partial, visibility = partial_textures(samples, atlas_n)
    return {
        "image": torch.stack([s.image for s in samples]),
        "iuv": torch.stack([s.iuv for s in samples]),
        "partial_atlas": partial,
        "visibility": visibility,
        "person": torch.tensor([p for p, g in zip(persons, groups, strict=True) for _ in g]),
        "keys": [s.key for s in samples],
    }
