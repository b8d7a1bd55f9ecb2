"""The IUV convention: DensePose part ids, chart coordinates and the IUV PNG file.

An IUV image is an ``(H, W, 3)`` uint8 array laid out exactly as ``cv2.imread`` returns
DensePose's own IUV PNG files:

* ``iuv_hw3[..., 0] = I``: body part id, 0 = background, 1..24 = parts (see ``PART_NAMES``);
* ``iuv_hw3[..., 1] = trunc(U * 255)``, ``iuv_hw3[..., 2] = trunc(V * 255)``: chart coordinates,
  quantised as detectron2's DensePose (``quantize_densepose_chart_result``: float32
  ``(uv * 255).clamp(0, 255)`` cast to uint8) and Detectron's ``_IUV.png`` writer
  (``astype(np.uint8)``) do: truncated, not rounded (see :func:`quantize_uv`).

cv2 stores channel 0 as blue, so PIL's RGB view of the same file is R = V, G = U, B = I.
This module is the only place that reads or writes IUV files.
"""

from __future__ import annotations

import os
import struct

import cv2
import numpy as np

from dpt_core import storage

N_PARTS = 24
"""Number of DensePose body parts; part ids run 1..N_PARTS, 0 is background."""

PART_NAMES: dict[int, str] = {
    1: "torso_back",
    2: "torso_front",
    3: "right_hand",
    4: "left_hand",
    5: "left_foot",
    6: "right_foot",
    7: "right_upper_leg_back",
    8: "left_upper_leg_back",
    9: "right_upper_leg_front",
    10: "left_upper_leg_front",
    11: "right_lower_leg_back",
    12: "left_lower_leg_back",
    13: "right_lower_leg_front",
    14: "left_lower_leg_front",
    15: "left_upper_arm_inner",
    16: "right_upper_arm_inner",
    17: "left_upper_arm_outer",
    18: "right_upper_arm_outer",
    19: "left_lower_arm_inner",
    20: "right_lower_arm_inner",
    21: "left_lower_arm_outer",
    22: "right_lower_arm_outer",
    23: "head_right",
    24: "head_left",
}

OTHER_HALF_PART: dict[int, int] = {
    **{p: p + 1 for p in (1, 23)},
    **{p + 1: p for p in (1, 23)},
    **{p: p + 2 for p in (7, 8, 11, 12, 15, 16, 19, 20)},
    **{p + 2: p for p in (7, 8, 11, 12, 15, 16, 19, 20)},
}
"""The other half of the same segment (torso back <-> front, a limb's back <-> front or inner <->
outer, head right <-> left) for the 20 parts split in two; hands and feet are whole. Each pair
wraps around its segment's axis, with V running along the axis in both charts."""

MIRROR_PART: dict[int, int] = {
    **{p: p + 1 for p in (3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23)},
    **{p + 1: p for p in (3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23)},
}
"""The same part on the other side of the body (left <-> right), for the 22 parts that have one;
the torso halves (1, 2) have none. Charts of a pair share orientation: (U, V) maps to (U, V)."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COMPRESSION = 3  # fixed, so encoded bytes are deterministic across calls
MAX_IUV_PIXELS = 50_000_000
"""IUV PNGs claiming more pixels are refused from their header (decompression-bomb limit)."""


def validate_iuv(iuv_hw3: np.ndarray, name: str = "iuv") -> np.ndarray:
    """Check an IUV image and return it unchanged.

    ``iuv_hw3`` must be an ``(H, W, 3)`` uint8 array with part ids (channel 0) in 0..24.
    Raises ValueError naming ``name`` otherwise.
    """
    if not isinstance(iuv_hw3, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(iuv_hw3).__name__}")
    if iuv_hw3.ndim != 3 or iuv_hw3.shape[2] != 3:
        raise ValueError(f"{name}: expected shape (H, W, 3), got {iuv_hw3.shape}")
    if iuv_hw3.dtype != np.uint8:
        raise ValueError(f"{name}: expected dtype uint8, got {iuv_hw3.dtype}")
    if iuv_hw3.size and int(iuv_hw3[..., 0].max()) > N_PARTS:
        bad = int(iuv_hw3[..., 0].max())
        raise ValueError(f"{name}: part id {bad} out of range 0..{N_PARTS}")
    return iuv_hw3


def png_size(data: bytes, name: str = "png") -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, without decoding; ValueError if there is none."""
    if not data.startswith(_PNG_SIGNATURE) or len(data) < 24 or data[12:16] != b"IHDR":
        raise ValueError(f"{name}: corrupt PNG (no IHDR header)")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def decode_iuv_png(data: bytes, name: str = "iuv") -> np.ndarray:
    """Decode IUV PNG bytes to an ``(H, W, 3)`` uint8 array in cv2 channel order (I, U, V)."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError(f"{name}: not a PNG file (bad signature)")
    width, height = png_size(data, name)
    if width * height > MAX_IUV_PIXELS:
        raise ValueError(
            f"{name}: {width}x{height} IUV PNG exceeds {MAX_IUV_PIXELS} pixels (refused unread)"
        )
    iuv_hw3 = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if iuv_hw3 is None:
        raise ValueError(f"{name}: corrupt or truncated PNG")
    if iuv_hw3.ndim != 3 or iuv_hw3.shape[2] != 3 or iuv_hw3.dtype != np.uint8:
        channels = 1 if iuv_hw3.ndim == 2 else iuv_hw3.shape[2]
        raise ValueError(
            f"{name}: IUV PNG must be 3-channel 8-bit, got {channels} channel(s) of {iuv_hw3.dtype}"
        )
    return validate_iuv(iuv_hw3, name)


def read_iuv(src: str | os.PathLike | bytes) -> np.ndarray:
    """Read an IUV PNG from a path, an fsspec URL or the PNG bytes themselves.

    Returns ``(H, W, 3)`` uint8 (I, U·255, V·255): the array ``cv2.imread`` gives for the file.
    Raises FileNotFoundError for a missing file and ValueError for a non-PNG, corrupt or
    non-IUV file (wrong channels, part ids > 24), naming the source.
    """
    if isinstance(src, bytes | bytearray | memoryview):
        return decode_iuv_png(bytes(src), name="iuv bytes")
    if not isinstance(src, str | os.PathLike):
        raise ValueError(f"src: expected a path, URL or bytes, got {type(src).__name__}")
    url = os.fspath(src)
    return decode_iuv_png(storage.read_bytes(url), name=url)


def encode_iuv_png(iuv_hw3: np.ndarray) -> bytes:
    """Encode an ``(H, W, 3)`` uint8 IUV array as PNG bytes; ``cv2.imread`` decodes them to it."""
    validate_iuv(iuv_hw3, "iuv_hw3")
    params = [cv2.IMWRITE_PNG_COMPRESSION, _PNG_COMPRESSION]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(iuv_hw3), params)
    if not ok:  # pragma: no cover - cv2 only fails here on out-of-memory
        raise ValueError("iuv_hw3: cv2 could not encode the IUV image as PNG")
    return buf.tobytes()


def write_iuv(dst: str | os.PathLike, iuv_hw3: np.ndarray) -> None:
    """Write ``iuv_hw3`` as an IUV PNG to a path or fsspec URL, atomically."""
    if not isinstance(dst, str | os.PathLike):
        raise ValueError(f"dst: expected a path or URL, got {type(dst).__name__}")
    storage.write_bytes(os.fspath(dst), encode_iuv_png(iuv_hw3))


def _check_float_inputs(labels_hw: np.ndarray, u_hw: np.ndarray, v_hw: np.ndarray) -> None:
    for name, arr in (("labels_hw", labels_hw), ("u_hw", u_hw), ("v_hw", v_hw)):
        if not isinstance(arr, np.ndarray) or arr.ndim != 2:
            shape = getattr(arr, "shape", type(arr).__name__)
            raise ValueError(f"{name}: expected a 2-D numpy array (H, W), got {shape}")
    if not (labels_hw.shape == u_hw.shape == v_hw.shape):
        raise ValueError(
            f"labels_hw, u_hw, v_hw: shapes differ: {labels_hw.shape}, {u_hw.shape}, {v_hw.shape}"
        )
    if not np.issubdtype(labels_hw.dtype, np.integer):
        raise ValueError(f"labels_hw: expected an integer dtype, got {labels_hw.dtype}")
    if labels_hw.size and (labels_hw.min() < 0 or labels_hw.max() > N_PARTS):
        raise ValueError(f"labels_hw: part ids must lie in 0..{N_PARTS}")
    fg = labels_hw > 0
    for name, arr in (("u_hw", u_hw), ("v_hw", v_hw)):
        if not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"{name}: expected a float dtype, got {arr.dtype}")
        values = arr[fg]
        if values.size and not (np.all(values >= 0.0) and np.all(values <= 1.0)):
            raise ValueError(f"{name}: coordinates on the body must lie in [0, 1] (NaN refused)")


def quantize_uv(coord: np.ndarray) -> np.ndarray:
    """Chart coordinates in [0, 1] (any shape, float) → uint8 levels, as DensePose does it.

    ``coord`` is cast to float32, multiplied by 255 in float32, clamped to [0, 255] and
    truncated toward zero: 0.999 → 254, 0.5 → 127, 1/255 → 1. NaN becomes 0.
    """
    scaled = np.asarray(coord, dtype=np.float32) * np.float32(255.0)
    return np.nan_to_num(scaled, nan=0.0).clip(0.0, 255.0).astype(np.uint8)


def iuv_from_float(labels_hw: np.ndarray, u_hw: np.ndarray, v_hw: np.ndarray) -> np.ndarray:
    """Quantise part labels and float chart coordinates into an IUV image.

    ``labels_hw``: (H, W) integer in 0..24; ``u_hw``, ``v_hw``: (H, W) float in [0, 1] on the
    body (ignored, even NaN, where the label is 0). Returns (H, W, 3) uint8, U/V 0 on
    background, U/V levels from :func:`quantize_uv`.
    """
    _check_float_inputs(labels_hw, u_hw, v_hw)
    fg = labels_hw > 0
    iuv_hw3 = np.zeros((*labels_hw.shape, 3), dtype=np.uint8)
    iuv_hw3[..., 0] = labels_hw
    for channel, coord in ((1, u_hw), (2, v_hw)):
        iuv_hw3[..., channel] = np.where(fg, quantize_uv(coord), 0)
    return iuv_hw3


def iuv_to_float(iuv_hw3: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split an IUV image into (labels (H, W) uint8, u (H, W) float32, v (H, W) float32).

    u and v are ``level / 255`` in [0, 1]. Quantisation truncates, so a value ``x`` given to
    ``iuv_from_float`` comes back as ``x - d`` with ``0 <= d < 1/255`` (up to float32 rounding).
    """
    validate_iuv(iuv_hw3, "iuv_hw3")
    labels_hw = iuv_hw3[..., 0].copy()
    u_hw = iuv_hw3[..., 1].astype(np.float32) / np.float32(255.0)
    v_hw = iuv_hw3[..., 2].astype(np.float32) / np.float32(255.0)
    return labels_hw, u_hw, v_hw
