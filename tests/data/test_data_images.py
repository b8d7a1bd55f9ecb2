"""Decode, check and normalise: exact pixels for conversions, reasons for bad input."""

from __future__ import annotations

import io
import struct

import cv2
import numpy as np
import pytest
from data_builders import jpeg_bytes, noise_array, png_bytes, png_chunk, raw_png, rgb_array
from PIL import Image

from dpt_core.data.images import ImageRejected, NormalizeOptions, prepare_image


def decode(data: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(data))
    assert img.mode == "RGB"
    return np.asarray(img)


def test_rgb_png_passes_through_byte_for_byte():
    data = png_bytes(rgb_array(20, 30))
    out = prepare_image(data)
    assert out.data == data
    assert (out.ext, out.width, out.height, out.transform) == ("png", 30, 20, "none")


def test_rgb_jpeg_passes_through_byte_for_byte():
    data = jpeg_bytes(rgb_array(16, 24))
    out = prepare_image(data)
    assert (out.data, out.ext, out.orig_format) == (data, "jpg", "JPEG")


def test_grayscale_becomes_three_equal_channels():
    gray = rgb_array(10, 12)[..., 0]
    out = prepare_image(png_bytes(gray, "L"))
    pixels = decode(out.data)
    assert out.ext == "png" and out.transform == "to_rgb8" and out.orig_mode == "L"
    np.testing.assert_array_equal(pixels, np.repeat(gray[..., None], 3, axis=2))


def test_16bit_grayscale_scales_by_257():
    values = np.array([0, 257, 32896, 65535, 65535, 0, 514, 1028], np.uint16).reshape(1, 8)
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in np.repeat(values, 8, 0))
    out = prepare_image(raw_png(8, 8, 16, 0, rows))  # color type 0 = gray
    np.testing.assert_array_equal(decode(out.data)[0, :, 0], [0, 1, 128, 255, 255, 0, 2, 4])


def test_16bit_rgb_png_is_reencoded_as_8bit():
    bgr16 = np.zeros((8, 8, 3), np.uint16)
    bgr16[..., 2] = 65535  # red in OpenCV's BGR order
    bgr16[..., 1] = 32896
    data = cv2.imencode(".png", bgr16)[1].tobytes()
    assert data[24] == 16  # really a 16-bit PNG
    out = prepare_image(data)
    assert out.transform == "to_rgb8" and out.data[24] == 8
    np.testing.assert_array_equal(decode(out.data)[3, 3], [255, 128, 0])


def test_rgba_is_composited_over_background():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[0, 0] = [10, 20, 30, 255]  # opaque: kept
    rgba[0, 1] = [10, 20, 30, 0]  # transparent: background
    rgba[0, 2] = [0, 0, 0, 128]  # half: 255 * 127/255 = 127 over a white background
    out = prepare_image(png_bytes(rgba, "RGBA"), NormalizeOptions(background=(255, 255, 255)))
    pixels = decode(out.data)
    np.testing.assert_array_equal(pixels[0, 0], [10, 20, 30])
    np.testing.assert_array_equal(pixels[0, 1], [255, 255, 255])
    np.testing.assert_allclose(pixels[0, 2], [127, 127, 127], atol=1)


def test_palette_image_keeps_its_colours():
    arr = rgb_array(8, 8)
    pal = Image.fromarray(arr).quantize(colors=16)
    buffer = io.BytesIO()
    pal.save(buffer, "PNG")
    out = prepare_image(buffer.getvalue())
    np.testing.assert_array_equal(decode(out.data), np.asarray(pal.convert("RGB")))
    assert out.orig_mode == "P"


def test_cmyk_jpeg_becomes_rgb_jpeg():
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    out = prepare_image(jpeg_bytes(cmyk))
    assert (out.ext, out.orig_mode) == ("jpg", "CMYK")
    np.testing.assert_allclose(decode(out.data)[8, 8], [255, 0, 0], atol=6)


def test_exif_orientation_is_applied():
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = [255, 0, 0]  # left half red, right half blue
    arr[:, 20:] = [0, 0, 255]
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    out = prepare_image(jpeg_bytes(arr, exif=exif.tobytes()))
    pixels = decode(out.data)
    assert (out.width, out.height) == (20, 40) and out.transform == "exif_transpose"
    np.testing.assert_allclose(pixels[5, 10], [255, 0, 0], atol=8)  # left is now on top
    np.testing.assert_allclose(pixels[35, 10], [0, 0, 255], atol=8)


def test_pad_to_square_records_the_transform():
    out = prepare_image(png_bytes(rgb_array(50, 100)), NormalizeOptions(size=(64, 64)))
    pixels = decode(out.data)
    # scale = min(64/100, 64/50) = 0.64 -> 64x32 placed at y = (64 - 32) // 2 = 16
    assert (out.width, out.height, out.scale, out.pad_x, out.pad_y) == (64, 64, 0.64, 0, 16)
    assert out.transform == "resize+pad"
    assert (pixels[:16] == 255).all() and (pixels[48:] == 255).all()
    assert not (pixels[16:48] == 255).all()


def test_resize_fit_stretches():
    out = prepare_image(
        png_bytes(rgb_array(50, 100)), NormalizeOptions(size=(32, 40), fit="resize")
    )
    assert (out.width, out.height, out.transform, out.pad_x) == (40, 32, "resize", 0)


def test_image_at_target_size_passes_through():
    data = png_bytes(rgb_array(32, 32))
    assert prepare_image(data, NormalizeOptions(size=(32, 32))).data == data


def _reason(data: bytes, **options: object) -> str:
    with pytest.raises(ImageRejected) as info:
        prepare_image(data, NormalizeOptions(**options))
    return info.value.reason


def test_rejections_carry_their_reason():
    good = png_bytes(noise_array(64, 64))
    assert _reason(b"") == "empty"
    assert _reason(b"GIF89 not really") == "not_image"
    assert _reason(good[: len(good) // 2]) == "truncated"
    jpeg = jpeg_bytes(noise_array(64, 64))
    assert _reason(jpeg[: len(jpeg) // 2]) == "truncated"
    assert _reason(png_bytes(rgb_array(4, 300))) == "bad_size"  # side 4 < min_side 8
    assert _reason(png_bytes(rgb_array(100, 100)), max_side=64) == "bad_size"


def test_decompression_bomb_is_rejected_before_decoding():
    rows = b"\x00" + b"\x00" * 3 * 8
    small = raw_png(8, 1, 8, 2, rows)
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    bomb = small[:8] + png_chunk(b"IHDR", ihdr) + small[8 + 25 :]
    assert _reason(bomb) == "decompression_bomb"
    assert _reason(png_bytes(rgb_array(100, 100)), max_pixels=5000) == "decompression_bomb"


def test_corrupt_png_data_is_rejected():
    data = bytearray(png_bytes(noise_array(32, 32)))
    idat = data.index(b"IDAT")
    data[idat + 40] ^= 0xFF  # breaks the chunk CRC
    assert _reason(bytes(data)) == "corrupt"


def test_bad_options_name_the_field():
    with pytest.raises(ValueError, match="fit"):
        NormalizeOptions(fit="crop")
    with pytest.raises(ValueError, match="size"):
        NormalizeOptions(size=(0, 10))


def test_full_verify_catches_broken_deflate_under_valid_crcs():
    good = raw_png(8, 8, 8, 2, b"".join(b"\x00" + bytes(24) for _ in range(8)))
    start = good.index(b"IDAT") - 4
    end = good.index(b"IEND") - 4
    broken = good[:start] + png_chunk(b"IDAT", b"not a deflate stream") + good[end:]
    assert prepare_image(broken).data == broken  # "fast": chunk CRCs only
    assert _reason(broken, verify="full") == "corrupt"
    assert prepare_image(good, NormalizeOptions(verify="full")).data == good
