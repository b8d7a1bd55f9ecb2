"""Extraction records: what an IUV source produces, and what the stage writes for it.

:class:`DensePoseResult` / :class:`Extraction` come out of every extractor; each IUV image
becomes a shard sample ``{"__key__", "iuv.png"}`` and a manifest row (``MANIFEST_SCHEMA``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from dpt_core import iuv

NO_PERSON = "no person"


@dataclass(frozen=True)
class DensePoseResult:
    """One IUV image and the people in it.

    ``iuv_hw3``: (H, W, 3) uint8 IUV (``dpt_core.iuv`` convention); ``boxes_xyxy``: (n, 4)
    float32 person boxes in image pixels, best first; ``scores``: (n,) float32 detection
    scores (NaN = unknown); ``n_detected``: people found in the whole image (≥ n).
    """

    iuv_hw3: np.ndarray
    boxes_xyxy: np.ndarray
    scores: np.ndarray
    n_detected: int


@dataclass(frozen=True)
class Extraction:
    """Outcome for one sample: ``results`` (IUV images), or ``reason``/``detail`` if none."""

    key: str
    results: list[DensePoseResult] = field(default_factory=list)
    reason: str = ""
    detail: str = ""

    @classmethod
    def of(cls, key: str, results: list[DensePoseResult]) -> Extraction:
        """The results, or a ``no person`` failure when there are none."""
        return cls(key, results) if results else cls(key, [], NO_PERSON)


IUV_EXT = "iuv.png"

MANIFEST_SCHEMA = pa.schema(
    [
        ("key", pa.string()),  # sample key in the IUV shard
        ("image_key", pa.string()),  # key of the dataset sample it came from
        ("person", pa.int32()),  # 0, or the person's rank (by score) in mode "each"
        ("source", pa.string()),
        ("mode", pa.string()),
        ("iuv", pa.string()),  # member name, KEY.iuv.png
        ("height", pa.int32()),
        ("width", pa.int32()),
        ("n_people", pa.int32()),  # people detected in the image
        ("n_people_in_iuv", pa.int32()),
        ("bbox_x0", pa.float32()),  # box of the best person in the IUV, image pixels
        ("bbox_y0", pa.float32()),
        ("bbox_x1", pa.float32()),
        ("bbox_y1", pa.float32()),
        ("score", pa.float32()),  # detection score of that person; null when unknown
        ("coverage", pa.float32()),  # fraction of pixels on the body (I > 0)
    ]
)


def output_key(image_key: str, person: int, mode: str) -> str:
    """Key of an IUV sample: the image key, or ``KEY_pNN`` per person in mode "each"."""
    return f"{image_key}_p{person:02d}" if mode == "each" else image_key


def _row(
    key: str, image_key: str, person: int, result: DensePoseResult, source: str, mode: str
) -> dict:
    iuv_hw3 = result.iuv_hw3
    box = [float(c) for c in result.boxes_xyxy[0]]
    score = float(result.scores[0])
    return {
        "key": key,
        "image_key": image_key,
        "person": person,
        "source": source,
        "mode": mode,
        "iuv": f"{key}.{IUV_EXT}",
        "height": int(iuv_hw3.shape[0]),
        "width": int(iuv_hw3.shape[1]),
        "n_people": int(result.n_detected),
        "n_people_in_iuv": len(result.scores),
        "bbox_x0": box[0],
        "bbox_y0": box[1],
        "bbox_x1": box[2],
        "bbox_y1": box[3],
        "score": None if math.isnan(score) else score,
        "coverage": float(np.count_nonzero(iuv_hw3[..., 0]) / iuv_hw3[..., 0].size),
    }


def extraction_records(
    extraction: Extraction, source: str, mode: str
) -> list[tuple[dict[str, bytes | str], dict]]:
    """(shard sample ``{"__key__", "iuv.png"}``, manifest row) per IUV image of a sample."""
    records = []
    for person, result in enumerate(extraction.results):
        key = output_key(extraction.key, person, mode)
        sample = {"__key__": key, IUV_EXT: iuv.encode_iuv_png(result.iuv_hw3)}
        records.append((sample, _row(key, extraction.key, person, result, source, mode)))
    return records
