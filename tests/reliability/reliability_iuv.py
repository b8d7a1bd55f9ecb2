"""Hypothesis strategies for IUV files: sound ones and every way they go wrong.

An :class:`IuvCase` is the bytes of a ``KEY.iuv.png`` member (or None: no IUV at all) for an
image of ``IMAGE_HW``, what a stage must do with it, and the reasons it may give.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from hypothesis import strategies as st
from reliability_images import encode, pixels, png_with_header

from dpt_core import iuv

IMAGE_HW = (24, 20)
GOOD, BAD = "good", "bad"


@dataclass(frozen=True)
class IuvCase:
    kind: str
    data: bytes | None
    expect: str
    reasons: frozenset[str] = frozenset()


def iuv_array(height: int, width: int, seed: int, max_id: int = 24) -> np.ndarray:
    """(H, W, 3) uint8 IUV: a body blob of parts 1..``max_id`` on a zero background."""
    rng = np.random.default_rng(seed)
    out = np.zeros((height, width, 3), np.uint8)
    top, left = height // 4, width // 4
    body = (slice(top, height - top), slice(left, width - left))
    shape = out[body].shape[:2]
    out[(*body, 0)] = rng.integers(1, max_id + 1, shape)
    out[(*body, 1)] = rng.integers(0, 256, shape)
    out[(*body, 2)] = rng.integers(0, 256, shape)
    return out


def png(array: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


@st.composite
def iuv_cases(draw, image_hw: tuple[int, int] = IMAGE_HW) -> IuvCase:
    """Any IUV case for an image of ``image_hw`` (height, width)."""
    h, w = image_hw
    seed = draw(st.integers(0, 2**16))
    kind = draw(
        st.sampled_from(["good", "good", "good", "empty", "ids_over_24", "wrong_size", "gray",
                         "rgba", "16bit", "truncated", "garbage", "jpeg", "missing", "bomb"])
    )  # fmt: skip
    bad = lambda reasons: IuvCase(kind, data, BAD, frozenset(reasons))  # noqa: E731
    sound = iuv_array(h, w, seed)
    if kind == "good":
        return IuvCase(kind, iuv.encode_iuv_png(sound), GOOD)
    data: bytes | None
    if kind == "empty":
        data = iuv.encode_iuv_png(np.zeros_like(sound))
        return bad({"no person", "empty iuv", "bad iuv"})
    if kind == "ids_over_24":
        arr = sound.copy()
        arr[h // 2, w // 2, 0] = draw(st.integers(25, 255))
        data = png(arr)
    elif kind == "wrong_size":
        dh, dw = draw(st.sampled_from([(1, 0), (0, 1), (-1, 0), (0, -3), (h, w)]))
        data = iuv.encode_iuv_png(iuv_array(h + dh, w + dw, seed))
        return bad({"size mismatch"})
    elif kind in ("gray", "rgba", "16bit"):
        arr = {"gray": sound[..., 0], "rgba": np.dstack([sound, sound[..., :1]]),
               "16bit": sound.astype(np.uint16)}[kind]  # fmt: skip
        data = png(arr)
    elif kind == "truncated":
        full = iuv.encode_iuv_png(sound)
        data = full[: draw(st.integers(0, len(full) - 1))]
    elif kind == "garbage":
        data = draw(st.binary(max_size=64))
    elif kind == "jpeg":
        data = encode(pixels(h, w, seed), "JPEG")
    elif kind == "missing":
        data = None
        return bad({"missing iuv"})
    else:  # a 30000 x 30000 RGB header over a tiny body: 2.7 GB if decoded
        data = png_with_header(30000, 30000, 2)
    return bad({"bad iuv"})
