"""Existing DensePose outputs → :class:`DensePoseResult`: our IUV files and Detectron-1's.

Files are looked up by sample key in one folder (any storage URL):

* ``KEY.iuv.png`` — our convention (``dpt_core.iuv``), or
* ``KEY_IUV.png`` — Detectron-1 ``infer_simple.py`` output (same channel layout), with an
  optional ``KEY_INDS.png``: a 1-channel map whose value on a body pixel (I > 0) is the
  person's rank in ascending detection score (so rank 0 is a real person there, and the
  highest value is the best-scoring person).
"""

from __future__ import annotations

import hashlib
import logging

import cv2
import numpy as np

from dpt_core import iuv, storage
from dpt_core.densepose.options import PersonMode
from dpt_core.densepose.records import DensePoseResult

logger = logging.getLogger(__name__)

OUR_SUFFIX = ".iuv.png"
DETECTRON1_IUV_SUFFIX = "_IUV.png"
DETECTRON1_INDS_SUFFIX = "_INDS.png"


def tight_box_xyxy(mask_hw: np.ndarray) -> np.ndarray:
    """(4,) float32 box [x0, y0, x1, y1) around the True pixels of ``mask_hw`` (zeros if none)."""
    rows = np.flatnonzero(mask_hw.any(axis=1))
    cols = np.flatnonzero(mask_hw.any(axis=0))
    if rows.size == 0:
        return np.zeros(4, dtype=np.float32)
    return np.asarray([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float32)


def decode_inds_png(data: bytes, name: str = "inds") -> np.ndarray:
    """Decode a Detectron-1 ``_INDS.png`` to an (H, W) uint8 array (first channel if colour)."""
    width, height = iuv.png_size(data, name)
    if width * height > iuv.MAX_IUV_PIXELS:
        raise ValueError(f"{name}: {width}x{height} INDS PNG exceeds {iuv.MAX_IUV_PIXELS} pixels")
    inds = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if inds is None:
        raise ValueError(f"{name}: corrupt or non-image INDS file")
    if inds.ndim == 3:
        inds = inds[..., 0]
    if inds.dtype != np.uint8:
        raise ValueError(f"{name}: INDS must be 8-bit, got {inds.dtype}")
    return inds


def results_from_iuv(
    iuv_hw3: np.ndarray,
    person_hw: np.ndarray | None = None,
    mode: PersonMode = "all",
    score: float = float("nan"),
) -> list[DensePoseResult]:
    """Split a whole-image IUV into results for ``mode`` (see ``chart_outputs_to_iuv``).

    ``person_hw``: (H, W) integer person id per pixel (only read where I > 0; a higher id is a
    better detection) or None for one person. Every result gets ``score`` (NaN = unknown).
    """
    iuv.validate_iuv(iuv_hw3, "iuv_hw3")
    body = iuv_hw3[..., 0] > 0
    if not body.any():
        return []
    if person_hw is None:
        person_hw = np.zeros(body.shape, dtype=np.int64)
    if person_hw.shape != body.shape:
        raise ValueError(f"person_hw: shape {person_hw.shape} != IUV shape {body.shape}")
    ids, areas = np.unique(person_hw[body], return_counts=True)
    n = int(ids.size)
    if mode == "all":
        boxes = np.stack([tight_box_xyxy(body & (person_hw == i)) for i in ids[::-1]])
        return [DensePoseResult(iuv_hw3, boxes, np.full(n, score, np.float32), n)]
    if mode == "largest":
        ids = ids[[int(np.argmax(areas))]]
    elif mode != "each":
        raise ValueError(f"mode: expected 'all', 'largest' or 'each', got {mode!r}")
    results = []
    for person in ids[::-1]:
        mask = body & (person_hw == person)
        one = np.where(mask[..., None], iuv_hw3, 0).astype(np.uint8)
        box = tight_box_xyxy(mask)[None]
        results.append(DensePoseResult(one, box, np.full(1, score, np.float32), n))
    return results


class PrecomputedFiles:
    """Index of the IUV files in ``folder_url``, listed once; ``load(key)`` reads one sample."""

    def __init__(self, folder_url: str):
        if not storage.exists(folder_url):
            raise FileNotFoundError(f"precomputed DensePose folder not found: {folder_url}")
        self.folder_url = folder_url
        names = [u.rstrip("/").rsplit("/", 1)[-1] for u in storage.ls(folder_url)]
        self._names = set(names)
        listing = "\n".join(sorted(self._names)).encode("utf-8")
        self.listing_sha256 = hashlib.sha256(listing).hexdigest()  # in the stage fingerprint
        logger.info("%d files in precomputed DensePose folder %s", len(names), folder_url)

    def _url(self, name: str) -> str:
        return storage.join(self.folder_url, name)

    def load(self, key: str) -> tuple[np.ndarray, np.ndarray | None] | None:
        """(IUV (H, W, 3) uint8, person ids (H, W) or None) for ``key``; None when absent."""
        if key + OUR_SUFFIX in self._names:
            return iuv.read_iuv(self._url(key + OUR_SUFFIX)), None
        if key + DETECTRON1_IUV_SUFFIX not in self._names:
            return None
        iuv_hw3 = iuv.read_iuv(self._url(key + DETECTRON1_IUV_SUFFIX))
        inds_name = key + DETECTRON1_INDS_SUFFIX
        if inds_name not in self._names:
            return iuv_hw3, None
        inds_hw = decode_inds_png(storage.read_bytes(self._url(inds_name)), inds_name)
        if inds_hw.shape != iuv_hw3.shape[:2]:
            raise ValueError(f"{inds_name}: shape {inds_hw.shape} != IUV {iuv_hw3.shape[:2]}")
        return iuv_hw3, inds_hw
