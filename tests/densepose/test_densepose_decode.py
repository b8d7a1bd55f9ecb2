"""Image decoding for DensePose matches detectron2's ``read_image``: PIL, EXIF orientation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from detectron2.data.detection_utils import read_image
from PIL import Image

from dpt_core import iuv
from dpt_core.densepose.extractors import StudioExtractor, decode_image_rgb, image_size_hw

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _jpeg(stored_rgb: np.ndarray, orientation: int | None) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(stored_rgb).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def _stored_with_red_top_left() -> np.ndarray:
    """Stored (sensor) pixels: 24 rows x 48 columns, blue, a red 8x8 block at the top left."""
    stored = np.zeros((24, 48, 3), np.uint8)
    stored[:] = BLUE
    stored[:8, :8] = RED
    return stored


def _is_red(block: np.ndarray) -> bool:
    mean = block.reshape(-1, 3).mean(axis=0)
    return bool(mean[0] > 200 and mean[2] < 60)


def test_exif_orientation_6_is_turned_upright():
    # Orientation 6: the stored image must be turned 90 degrees clockwise to be viewed, so
    # stored (row r, col c) is shown at (row c, col H - 1 - r): the 24x48 picture becomes
    # 48 rows x 24 columns and its stored top-left block lands at the top right.
    data = _jpeg(_stored_with_red_top_left(), orientation=6)
    image = decode_image_rgb(data)
    assert image.shape == (48, 24, 3) and image.dtype == np.uint8
    assert _is_red(image[:8, -8:]) and not _is_red(image[:8, :8])
    assert image_size_hw(data) == (48, 24)


@pytest.mark.parametrize("orientation", [None, 1, 2, 3, 4, 5, 6, 7, 8])
def test_decoding_equals_detectron2_read_image(tmp_path, orientation):
    data = _jpeg(_stored_with_red_top_left(), orientation)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    reference = read_image(str(path), format="RGB")  # what apply_net feeds the model (as BGR)
    np.testing.assert_array_equal(decode_image_rgb(data), reference)
    assert image_size_hw(data) == reference.shape[:2]


def test_rotated_phone_photo_gives_an_upright_person(studio_images):
    upright = studio_images[0]
    stored = np.ascontiguousarray(np.rot90(upright, k=1))  # sensor data, 90 degrees CCW
    decoded = decode_image_rgb(_jpeg(stored, orientation=6))
    assert decoded.shape == upright.shape
    as_stored = decode_image_rgb(_jpeg(stored, orientation=None))  # same JPEG pixels
    np.testing.assert_array_equal(decoded, np.rot90(as_stored, k=-1))  # 90 degrees clockwise
    error = np.abs(decoded.astype(int) - upright.astype(int)).mean()
    sideways = np.abs(np.rot90(decoded, k=1).astype(int) - upright.astype(int)).mean()
    assert error * 4 < sideways  # JPEG noise only; a sideways person differs far more


def test_other_modes_convert_as_pil_does():
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    buf = io.BytesIO()
    Image.fromarray(gray, "L").save(buf, "PNG")
    decoded = decode_image_rgb(buf.getvalue())
    np.testing.assert_array_equal(decoded, np.repeat(gray[..., None], 3, axis=2))
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 1], rgba[..., 3] = 200, 10  # alpha is dropped, not composited
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    np.testing.assert_array_equal(decode_image_rgb(buf.getvalue()), rgba[..., :3])


@pytest.mark.parametrize(
    "data", [b"", b"not an image at all", _jpeg(np.zeros((8, 8, 3), np.uint8), None)[:200]]
)
def test_bad_bytes_are_value_errors(data):
    with pytest.raises(ValueError, match="undecodable image"):
        decode_image_rgb(data)


def test_size_check_uses_the_upright_size(studio_images, studio_iuvs):
    upright, gt = studio_images[0][:, 10:100], studio_iuvs[0][:, 10:100]  # 128 x 90
    stored = np.ascontiguousarray(np.rot90(upright, k=1))
    sample = {"__key__": "k", "jpg": _jpeg(stored, 6), "iuv.png": iuv.encode_iuv_png(gt)}
    (extraction,) = StudioExtractor().extract([sample])
    assert extraction.reason == "" and extraction.results[0].iuv_hw3.shape == (128, 90, 3)
