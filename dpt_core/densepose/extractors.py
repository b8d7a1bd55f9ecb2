"""IUV sources behind one interface: DensePose R-CNN, precomputed files, studio ground truth.

An extractor takes a batch of shard samples (``{"__key__": KEY, "png": bytes, ...}``) and
returns one :class:`Extraction` per sample, in order: the IUV results, or why there are none.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PIL import Image

from dpt_core import iuv
from dpt_core.data.images import NormalizeOptions
from dpt_core.densepose.options import OVERLAP_RULES, PERSON_MODES, Overlap, PersonMode
from dpt_core.densepose.precomputed import PrecomputedFiles, results_from_iuv
from dpt_core.densepose.records import Extraction

if TYPE_CHECKING:
    from dpt_core.densepose.model import DensePoseModel

logger = logging.getLogger(__name__)

Sample = Mapping[str, bytes | str]
IMAGE_EXTS = ("png", "jpg", "jpeg")
MAX_IMAGE_PIXELS = NormalizeOptions().max_pixels  # the shard stage's limit


class Extractor(Protocol):
    """Turns a batch of samples into one :class:`Extraction` each, in order."""

    source: str

    def identity(self) -> dict:
        """What determines the output besides the input (settings, weights hash)."""
        ...

    def extract(self, samples: Sequence[Sample]) -> list[Extraction]: ...


def _check_mode(mode: str) -> None:
    if mode not in PERSON_MODES:
        raise ValueError(f"mode: expected one of {PERSON_MODES}, got {mode!r}")


def _image_bytes(sample: Sample) -> bytes | None:
    for ext in IMAGE_EXTS:
        value = sample.get(ext)
        if isinstance(value, bytes | bytearray):
            return bytes(value)
    return None


_EXIF_ORIENTATION = 0x0112
_EXIF_TRANSPOSE = {  # EXIF orientation → the transpose that shows the photo upright
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_SWAPS_SIDES = {
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_270,
}


def _exif_transpose(img: Image.Image) -> Image.Transpose | None:
    """The transpose for ``img``'s EXIF orientation; None when upright or unreadable."""
    try:
        orientation = img.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # broken EXIF: shown as stored, as detectron2 does
        return None
    return _EXIF_TRANSPOSE.get(orientation)


def _open_header(data: bytes) -> Image.Image:
    """PIL image opened lazily (header only); ValueError when unreadable or over the limit."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ValueError(f"image refused unread: {exc}") from None
    except Exception as exc:
        raise ValueError(f"undecodable image ({type(exc).__name__}: {exc})") from None
    width, height = img.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(
            f"{width}x{height} image exceeds {MAX_IMAGE_PIXELS} pixels (refused unread)"
        )
    return img


def decode_image_rgb(data: bytes) -> np.ndarray:
    """Decode image bytes to (H, W, 3) uint8 RGB exactly as detectron2's ``read_image`` does.

    PIL decodes, the EXIF orientation is applied (a rotated phone photo comes out upright)
    and ``convert("RGB")`` gives 8-bit RGB. ValueError if undecodable or larger than
    ``MAX_IMAGE_PIXELS`` (checked from the header, before decoding).
    """
    img = _open_header(data)
    try:
        img.load()
        method = _exif_transpose(img)
        upright = img.transpose(method) if method is not None else img
        return np.array(upright.convert("RGB"), dtype=np.uint8)
    except Exception as exc:  # untrusted bytes: any decoder error is a bad image
        raise ValueError(f"undecodable image ({type(exc).__name__}: {exc})") from None


def image_size_hw(data: bytes) -> tuple[int, int]:
    """(H, W) that :func:`decode_image_rgb` gives ``data``, from the header and EXIF only."""
    img = _open_header(data)
    method = _exif_transpose(img)
    return (img.width, img.height) if method in _SWAPS_SIDES else (img.height, img.width)


class Detectron2Extractor:
    """DensePose R-CNN on the sample images, batched, on the model's device."""

    source = "detectron2"

    def __init__(
        self,
        model: DensePoseModel,
        mode: PersonMode = "all",
        batch_size: int = 8,
        overlap: Overlap = "score",
    ):
        _check_mode(mode)
        if overlap not in OVERLAP_RULES:
            raise ValueError(f"overlap: expected one of {OVERLAP_RULES}, got {overlap!r}")
        self.model, self.mode, self.batch_size, self.overlap = model, mode, batch_size, overlap

    def identity(self) -> dict:
        weights = self.model.weights
        cfg = self.model.cfg.clone()
        cfg.defrost()
        cfg.MODEL.DEVICE = "any"  # the device does not decide the output
        return {
            "source": self.source,
            "mode": self.mode,
            "overlap": self.overlap,
            "config": cfg.dump(),
            "weights_sha256": weights.sha256 if weights else "random",
        }

    def extract(self, samples: Sequence[Sample]) -> list[Extraction]:
        outcomes: dict[int, Extraction] = {}
        images, positions = [], []
        for i, sample in enumerate(samples):
            key = str(sample["__key__"])
            data = _image_bytes(sample)
            if data is None:
                outcomes[i] = Extraction(key, [], "missing image", f"no {'/'.join(IMAGE_EXTS)}")
                continue
            try:
                images.append(decode_image_rgb(data))
                positions.append(i)
            except ValueError as exc:
                outcomes[i] = Extraction(key, [], "corrupt image", str(exc))
        predicted = (
            self.model.predict(images, self.mode, self.batch_size, self.overlap) if images else []
        )
        for i, results in zip(positions, predicted, strict=True):
            outcomes[i] = Extraction.of(str(samples[i]["__key__"]), results)
        return [outcomes[i] for i in range(len(samples))]


def _image_hw(sample: Sample) -> tuple[int, int] | None:
    data = _image_bytes(sample)
    return None if data is None else image_size_hw(data)


def _size_mismatch(
    key: str, iuv_hw3: np.ndarray, image_hw: tuple[int, int] | None
) -> Extraction | None:
    """A "size mismatch" extraction when the IUV and the sample's image differ in size."""
    if image_hw is not None and image_hw != iuv_hw3.shape[:2]:
        detail = f"IUV {iuv_hw3.shape[:2]} vs image {image_hw}"
        return Extraction(key, [], "size mismatch", detail)
    return None


class PrecomputedExtractor:
    """Imports existing IUV files (ours or Detectron-1's) found by sample key in a folder."""

    source = "precomputed"

    def __init__(self, folder_url: str, mode: PersonMode = "all"):
        _check_mode(mode)
        self.files, self.mode = PrecomputedFiles(folder_url), mode

    def identity(self) -> dict:
        return {
            "source": self.source,
            "mode": self.mode,
            "folder": self.files.folder_url,
            "listing_sha256": self.files.listing_sha256,
        }

    def _one(self, sample: Sample) -> Extraction:
        key = str(sample["__key__"])
        try:
            found = self.files.load(key)
            if found is None:
                return Extraction(key, [], "missing iuv", f"no {key}.iuv.png or {key}_IUV.png")
            iuv_hw3, person_hw = found
            image_hw = _image_hw(sample)
        except (ValueError, OSError) as exc:
            return Extraction(key, [], "bad iuv", str(exc))
        mismatch = _size_mismatch(key, iuv_hw3, image_hw)
        if mismatch is not None:
            return mismatch
        return Extraction.of(key, results_from_iuv(iuv_hw3, person_hw, self.mode))

    def extract(self, samples: Sequence[Sample]) -> list[Extraction]:
        return [self._one(s) for s in samples]


class StudioExtractor:
    """Passes the studio's ground-truth ``KEY.iuv.png`` through, validated (score 1)."""

    source = "studio"

    def __init__(self, mode: PersonMode = "all"):
        _check_mode(mode)
        self.mode = mode

    def identity(self) -> dict:
        return {"source": self.source, "mode": self.mode}

    def _one(self, sample: Sample) -> Extraction:
        key = str(sample["__key__"])
        data = sample.get("iuv.png")
        if not isinstance(data, bytes | bytearray):
            return Extraction(key, [], "missing iuv", "studio sample has no iuv.png member")
        try:
            iuv_hw3 = iuv.read_iuv(bytes(data))
            image_hw = _image_hw(sample)
        except (ValueError, OSError) as exc:
            return Extraction(key, [], "bad iuv", str(exc))
        mismatch = _size_mismatch(key, iuv_hw3, image_hw)
        if mismatch is not None:
            return mismatch
        return Extraction.of(key, results_from_iuv(iuv_hw3, None, self.mode, score=1.0))

    def extract(self, samples: Sequence[Sample]) -> list[Extraction]:
        return [self._one(s) for s in samples]
