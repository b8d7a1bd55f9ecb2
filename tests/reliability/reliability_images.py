"""Hypothesis strategies for image files: good, odd, corrupt, truncated, bombs.

Each strategy draws an :class:`ImageCase`: the file's bytes, what the shard stage must do
with it (``good``: stored; ``bad``: rejected with one of ``reasons``; ``either``: stored or
rejected, but never lost) and, for inputs stored byte for byte, ``passthrough=True``.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from PIL import Image

GOOD, BAD, EITHER = "good", "bad", "either"
DAMAGED = frozenset({"truncated", "corrupt", "not_image", "empty"})
TOO_BIG = frozenset({"decompression_bomb", "bad_size"})


@dataclass(frozen=True)
class ImageCase:
    """One generated file: bytes, its extension, the expected outcome and the generator."""

    kind: str
    data: bytes
    ext: str
    expect: str
    reasons: frozenset[str] = frozenset()
    passthrough: bool = False  # a good input that must be stored byte for byte
    size_wh: tuple[int, int] | None = None  # expected stored (width, height) when good


def pixels(height: int, width: int, seed: int) -> np.ndarray:
    """(H, W, 3) uint8 with smooth structure plus noise (decodes to distinct pixels)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = (xx[..., None] * rng.integers(1, 7, 3) + yy[..., None] * rng.integers(1, 7, 3)) % 256
    return (base + rng.integers(0, 16, (height, width, 3))).astype(np.uint8)


def encode(array: np.ndarray, fmt: str, mode: str | None = None, **save: object) -> bytes:
    image = Image.fromarray(array)
    if mode is not None:
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with_header(width: int, height: int, color_type: int, idat: bytes = b"") -> bytes:
    """A structurally valid PNG (right CRCs) whose IHDR claims ``width`` x ``height``."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    body = idat or zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", body)
        + png_chunk(b"IEND", b"")
    )


@functools.cache
def png_bomb(side: int = 8000) -> bytes:
    """A real 8-bit grayscale PNG of ``side`` x ``side`` zeros (64 Mpx from ~60 KB)."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    return png_with_header(side, side, 0, idat)


def jpeg_with_huge_frame(width: int = 60000, height: int = 60000) -> bytes:
    """A small JPEG whose SOF0 marker claims ``width`` x ``height`` pixels."""
    data = bytearray(encode(pixels(8, 8, 0), "JPEG", quality=90))
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


_sizes = st.integers(8, 40)
_seeds = st.integers(0, 2**16)


@st.composite
def good_images(draw) -> ImageCase:
    """Sound images in every mode and format the shard stage accepts."""
    h, w, seed = draw(_sizes), draw(_sizes), draw(_seeds)
    arr = pixels(h, w, seed)
    fmt, mode = draw(
        st.sampled_from(
            [("PNG", "RGB"), ("PNG", "L"), ("PNG", "RGBA"), ("PNG", "P"), ("PNG", "LA"),
             ("PNG", "I;16"), ("JPEG", "RGB"), ("JPEG", "L"), ("JPEG", "CMYK"), ("GIF", "P"),
             ("BMP", "RGB"), ("TIFF", "RGB"), ("WEBP", "RGB"), ("PPM", "RGB")]
        )
    )  # fmt: skip
    ext = {"JPEG": "jpg", "TIFF": "tif"}.get(fmt, fmt.lower())
    save = {"quality": 90} if fmt == "JPEG" else {"lossless": True} if fmt == "WEBP" else {}
    data = encode(arr, fmt, mode, **save)
    passthrough = (fmt, mode) in (("PNG", "RGB"), ("JPEG", "RGB"))
    if draw(st.booleans()) and fmt in ("PNG", "JPEG"):  # content sniffed, not the name
        ext = "jpg" if fmt == "PNG" else "png"
    return ImageCase(f"good_{fmt.lower()}_{mode}", data, ext, GOOD, passthrough=passthrough,
                     size_wh=(w, h))  # fmt: skip


@st.composite
def damaged_images(draw) -> ImageCase:
    """Truncated files, flipped bits, garbage, text and empty files."""
    base = draw(good_images())
    kind = draw(st.sampled_from(["truncated", "bitflip", "garbage", "text", "empty"]))
    if kind == "truncated":
        cut = draw(st.integers(1, len(base.data) - 1))
        return ImageCase(f"truncated_{base.kind}", base.data[:cut], base.ext, BAD, DAMAGED)
    if kind == "bitflip":
        data = bytearray(base.data)
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] ^= 1 << draw(st.integers(0, 7))
        # PNG: every byte is under a CRC or a length, so a flip is always caught.
        strict = base.data.startswith(b"\x89PNG")
        expect = BAD if strict else EITHER
        return ImageCase(f"bitflip_{base.kind}", bytes(data), base.ext, expect, DAMAGED | TOO_BIG)
    if kind == "garbage":
        tail = draw(st.binary(min_size=0, max_size=300))
        return ImageCase("garbage", b"\x00GARBAGE" + tail, base.ext, BAD, DAMAGED)
    if kind == "text":
        text = draw(st.text(st.characters(codec="utf-8"), max_size=200))
        return ImageCase("text", b"not an image: " + text.encode(), base.ext, BAD, DAMAGED)
    return ImageCase("empty", b"", base.ext, BAD, frozenset({"empty"}))


@st.composite
def oversized_images(draw) -> ImageCase:
    """Huge or tiny dimensions: lying headers, a real decompression bomb, 1-pixel images."""
    kind = draw(st.sampled_from(["huge_header", "bomb", "huge_jpeg", "tiny"]))
    if kind == "huge_header":
        big = draw(st.integers(16385, 2**31 - 1))
        small = draw(st.integers(1, 20000))
        w, h = (big, small) if draw(st.booleans()) else (small, big)
        color_type = draw(st.sampled_from([0, 2, 6]))
        return ImageCase("huge_header_png", png_with_header(w, h, color_type), "png", BAD, TOO_BIG)
    if kind == "bomb":
        return ImageCase(
            "png_bomb_64mpx", png_bomb(), "png", BAD, frozenset({"decompression_bomb"})
        )
    if kind == "huge_jpeg":
        return ImageCase("huge_jpeg_header", jpeg_with_huge_frame(), "jpg", BAD, TOO_BIG)
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 40))
    data = encode(pixels(h, w, draw(_seeds)), "PNG")
    return ImageCase("tiny_png", data, "png", BAD, frozenset({"bad_size"}))


def image_cases() -> st.SearchStrategy[ImageCase]:
    """Any image case, weighted towards bad and odd inputs."""
    return st.one_of(good_images(), damaged_images(), damaged_images(), oversized_images())
