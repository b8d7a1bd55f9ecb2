"""In and out of the model's square frame: where a generated person is, and its re-id crop.

In: the render stage pads every source image and target IUV centred to a square and resizes
it to the model's size S (``dpt_core.train.samples.fit_square``), so a 64 × 128 Market-1501
image enters as S × S with its edge columns repeated left and right.

Out: a generated image is S × S with the person where the target IUV has its body. The crop
is the target's body box (from the pose bank's manifest, in IUV pixels) mapped into the
square, grown by ``margin`` of its size on every side, then widened or heightened about its
centre to the output aspect ratio (W : H = 1 : 2 for Market-1501's 64 × 128), like a detector's
box. A side longer than the square is cut to the square's (the resize then stretches the other
way a little, as Market-1501's own boxes were stretched to 64 × 128) and the box is shifted
inside the square, so no pixel is invented; then it is resized to the output size.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels; x1, y1 exclusive


def square_box(box_xyxy: Sequence[float], height: int, width: int, size: int) -> Box:
    """A box of an H × W image in the S × S square ``fit_square`` makes of it."""
    if height < 1 or width < 1 or size < 1:
        raise ValueError(f"height, width, size must be >= 1, got {height}, {width}, {size}")
    side = max(height, width)
    top, left, scale = (side - height) // 2, (side - width) // 2, size / side
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    return ((x0 + left) * scale, (y0 + top) * scale, (x1 + left) * scale, (y1 + top) * scale)


def crop_box(box_xyxy: Sequence[float], out_hw: tuple[int, int], margin: float, size: int) -> Box:
    """The crop around a body box, inside the S × S square (see the module docstring); an empty
    box gives the centred crop of the output aspect ratio."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    aspect = out_hw[1] / out_hw[0]
    if not (x1 > x0 and y1 > y0):
        half = size * min(aspect, 1.0) / 2
        x0, y0, x1, y1, margin = size / 2 - half, 0.0, size / 2 + half, float(size), 0.0
    width, height = (x1 - x0) * (1 + 2 * margin), (y1 - y0) * (1 + 2 * margin)
    if width / height < aspect:
        width = height * aspect
    else:
        height = width / aspect
    width, height = min(width, size), min(height, size)
    left = min(max((x0 + x1 - width) / 2, 0.0), size - width)
    top = min(max((y0 + y1 - height) / 2, 0.0), size - height)
    return (left, top, left + width, top + height)


def crop_resize(
    image_hw3: np.ndarray, box: Box, out_hw: tuple[int, int], nearest: bool = False
) -> np.ndarray:
    """(out_h, out_w, C) uint8: ``box`` of the image (edge pixels repeated outside it), resized
    with area interpolation when shrinking, bilinear when enlarging; ``nearest`` for label
    images such as IUVs, whose values must not be mixed."""
    if image_hw3.ndim != 3 or image_hw3.dtype != np.uint8:
        raise ValueError(f"image_hw3: expected (H, W, C) uint8, got {image_hw3.shape} "
                         f"{image_hw3.dtype}")  # fmt: skip
    h, w = image_hw3.shape[:2]
    x0, y0 = round(box[0]), round(box[1])
    x1, y1 = max(round(box[2]), x0 + 1), max(round(box[3]), y0 + 1)
    pad = max(0, -x0, -y0, x1 - w, y1 - h)
    if pad:
        image_hw3 = cv2.copyMakeBorder(image_hw3, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    patch = image_hw3[y0 + pad : y1 + pad, x0 + pad : x1 + pad]
    shrink = patch.shape[0] > out_hw[0] or patch.shape[1] > out_hw[1]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    if nearest:
        interpolation = cv2.INTER_NEAREST
    return cv2.resize(patch, (out_hw[1], out_hw[0]), interpolation=interpolation)


def encode_jpeg(image_hw3: np.ndarray, quality: int = 95) -> bytes:
    """JPEG bytes of an (H, W, 3) uint8 RGB image (baseline, 4:2:0, no metadata)."""
    ok, buffer = cv2.imencode(".jpg", np.ascontiguousarray(image_hw3[..., ::-1]),
                              [cv2.IMWRITE_JPEG_QUALITY, int(quality)])  # fmt: skip
    if not ok:  # pragma: no cover - cv2 fails here only when out of memory
        raise ValueError("encode_jpeg: cv2 could not encode the image")
    return buffer.tobytes()
