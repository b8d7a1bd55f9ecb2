"""Decode, check and normalise one input image into the bytes a shard stores.

Every image that enters a shard is 8-bit RGB PNG or JPEG. Inputs that already are (and need
no EXIF rotation and no resize) pass through byte for byte after an integrity check; the rest
are decoded, rotated by their EXIF orientation, converted (grayscale, CMYK, palette, 16-bit,
alpha), optionally resized/padded to a target size, and re-encoded. A bad input raises
:class:`ImageRejected` with a short machine-readable ``reason``.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dpt_core.data.png_check import COLOR_TYPE_RGB, PNG_SIGNATURE, PngCheckError, scan_png

FITS = ("pad", "resize")
VERIFY_MODES = ("fast", "full")
_EXIF_ORIENTATION = 0x0112


class ImageRejected(ValueError):
    """An input image that cannot go into a shard; ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class NormalizeOptions:
    """How images are checked and normalised.

    ``size`` is the target (height, width) or None to keep each image's size; ``fit`` is
    "pad" (scale to fit, then pad with ``background``) or "resize" (stretch). ``background``
    also fills transparent pixels. Images with a side below ``min_side`` or above
    ``max_side``, or more than ``max_pixels`` pixels, are rejected before decoding.
    ``verify`` "fast" checks pass-through images without decoding them (PNG chunk CRCs, JPEG
    entropy data at 1/8 scale); "full" decodes every image.
    """

    size: tuple[int, int] | None = None
    fit: str = "pad"
    background: tuple[int, int, int] = (255, 255, 255)
    jpeg_quality: int = 95
    png_compress_level: int = 3
    min_side: int = 8
    max_side: int = 16384
    max_pixels: int = 50_000_000
    verify: str = "fast"

    def __post_init__(self) -> None:
        if self.size is not None:  # lists from JSON/YAML configs become tuples
            object.__setattr__(self, "size", tuple(self.size))
        object.__setattr__(self, "background", tuple(self.background))
        if self.size is not None and (len(self.size) != 2 or min(self.size) < 1):
            raise ValueError(f"size must be (height, width) >= 1 or None, got {self.size!r}")
        if self.fit not in FITS:
            raise ValueError(f"fit must be one of {FITS}, got {self.fit!r}")
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):
            raise ValueError(f"background must be 3 values in 0..255, got {self.background!r}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        if not 0 <= self.png_compress_level <= 9:
            raise ValueError(f"png_compress_level must be in 0..9, got {self.png_compress_level}")
        if self.verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {VERIFY_MODES}, got {self.verify!r}")
        if not 1 <= self.min_side <= self.max_side or self.max_pixels < 1:
            raise ValueError("need 1 <= min_side <= max_side and max_pixels >= 1")


@dataclass(frozen=True)
class PreparedImage:
    """Bytes to store plus what was done: output pixel (x, y) came from original
    ((x - pad_x) / scale, (y - pad_y) / scale)."""

    data: bytes
    ext: str  # "png" | "jpg"
    width: int
    height: int
    orig_width: int
    orig_height: int
    orig_format: str
    orig_mode: str
    transform: str  # "none" or ops joined by "+": exif_transpose, to_rgb8, resize, pad
    scale: float = 1.0
    pad_x: int = 0
    pad_y: int = 0


def open_checked(data: bytes, options: NormalizeOptions) -> Image.Image:
    """Open ``data`` lazily (header only) and reject empty, non-image and absurdly sized input."""
    if not data:
        raise ImageRejected("empty", "zero-byte file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # max_pixels rules
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageRejected("decompression_bomb", str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected("not_image", "not a recognised image format") from exc
    except Exception as exc:  # undecodable header of a known format
        raise ImageRejected("corrupt", f"{type(exc).__name__}: {exc}") from exc
    _check_size(img.size, options)
    return img


def _check_size(size_wh: tuple[int, int], options: NormalizeOptions) -> None:
    width, height = size_wh
    if width * height > options.max_pixels:
        raise ImageRejected(
            "decompression_bomb", f"{width}x{height} exceeds {options.max_pixels} pixels"
        )
    if min(width, height) < options.min_side or max(width, height) > options.max_side:
        raise ImageRejected(
            "bad_size", f"{width}x{height} outside sides {options.min_side}..{options.max_side}"
        )


def _classify_decode_error(exc: Exception) -> ImageRejected:
    if isinstance(exc, Image.DecompressionBombError):
        return ImageRejected("decompression_bomb", str(exc))
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
        return ImageRejected("truncated", text)
    return ImageRejected("corrupt", text)


def _png_passthrough(data: bytes, options: NormalizeOptions) -> PreparedImage | None:
    """The image as-is when ``data`` is a sound 8-bit RGB PNG needing no change, else None."""
    try:
        png = scan_png(data)
    except PngCheckError as exc:
        raise ImageRejected(exc.reason, exc.detail) from exc
    _check_size((png.width, png.height), options)
    plain = png.bit_depth == 8 and png.color_type == COLOR_TYPE_RGB and not png.has_exif
    if not plain or options.size not in (None, (png.height, png.width)):
        return None
    if options.verify == "full":
        _decode_fully(data)
    return PreparedImage(data, "png", png.width, png.height, png.width, png.height, "PNG", "RGB",
                         transform="none")  # fmt: skip


def _jpeg_passthrough(img: Image.Image, data: bytes, options: NormalizeOptions) -> bool:
    """True (after an integrity check) when ``data`` is an RGB JPEG needing no change."""
    if img.format != "JPEG" or img.mode != "RGB" or _orientation(img) != 1:
        return False
    if options.size not in (None, (img.height, img.width)):
        return False
    if options.verify == "full":
        _decode_fully(data)
        return True
    try:  # entropy-decodes everything, at 1/8 scale
        probe = Image.open(io.BytesIO(data))
        probe.draft("RGB", (max(1, probe.width // 8), max(1, probe.height // 8)))
        probe.load()
    except Exception as exc:
        raise _classify_decode_error(exc) from exc
    return True


def _decode_fully(data: bytes) -> None:
    try:
        Image.open(io.BytesIO(data)).load()
    except Exception as exc:
        raise _classify_decode_error(exc) from exc


def to_rgb8(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Any PIL mode -> 8-bit RGB; alpha composited over ``background``, 16-bit scaled by 1/257."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(img, dtype=np.float64)
        divisor = 257.0 if img.mode != "F" or values.max(initial=0) > 255 else 1.0
        gray = np.clip(np.rint(values / divisor), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[..., None], 3, axis=2), "RGB")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def fit_to_size(
    img: Image.Image, size_hw: tuple[int, int], fit: str, background: tuple[int, int, int]
) -> tuple[Image.Image, float, int, int, list[str]]:
    """Resize (and pad) an RGB image to (height, width); returns image, scale, pad_x, pad_y, ops."""
    height, width = size_hw
    if img.size == (width, height):
        return img, 1.0, 0, 0, []
    if fit == "resize":
        return img.resize((width, height), Image.Resampling.LANCZOS), 1.0, 0, 0, ["resize"]
    scale = min(width / img.width, height / img.height)
    new_w = max(1, min(width, round(img.width * scale)))
    new_h = max(1, min(height, round(img.height * scale)))
    ops = []
    if (new_w, new_h) != img.size:
        img = img.resize((new_w, new_h), Image.Resampling.LANCZOS)
        ops.append("resize")
    pad_x, pad_y = (width - new_w) // 2, (height - new_h) // 2
    if (new_w, new_h) != (width, height):
        canvas = Image.new("RGB", (width, height), background)
        canvas.paste(img, (pad_x, pad_y))
        img = canvas
        ops.append("pad")
    return img, scale, pad_x, pad_y, ops


def encode(img: Image.Image, ext: str, options: NormalizeOptions) -> bytes:
    """Encode an RGB image as "png" (lossless) or "jpg" (quality ``options.jpeg_quality``)."""
    out = io.BytesIO()
    if ext == "jpg":
        img.save(out, "JPEG", quality=options.jpeg_quality, subsampling=0)
    else:
        img.save(out, "PNG", compress_level=options.png_compress_level)
    return out.getvalue()


def prepare_image(data: bytes, options: NormalizeOptions | None = None) -> PreparedImage:
    """Check and normalise one encoded image; raises :class:`ImageRejected` on bad input."""
    options = options or NormalizeOptions()
    if data.startswith(PNG_SIGNATURE):
        as_is = _png_passthrough(data, options)
        if as_is is not None:
            return as_is
    img = open_checked(data, options)
    orig = (img.width, img.height, img.format or "", img.mode)
    if _jpeg_passthrough(img, data, options):
        return PreparedImage(data, "jpg", img.width, img.height, *orig, transform="none")
    try:  # untrusted bytes: any decoder error rejects the image, not the shard
        img.load()
        rotated = ImageOps.exif_transpose(img)
        rgb = to_rgb8(rotated, options.background)
    except Exception as exc:
        raise _classify_decode_error(exc) from exc
    ops = ["exif_transpose"] if rotated.size != img.size or _orientation(img) != 1 else []
    if img.mode != "RGB" or "transparency" in img.info or _is_16bit_png(data):
        ops.append("to_rgb8")
    scale, pad_x, pad_y = 1.0, 0, 0
    if options.size is not None:
        rgb, scale, pad_x, pad_y, fit_ops = fit_to_size(
            rgb, options.size, options.fit, options.background
        )
        ops += fit_ops
    out_ext = "jpg" if orig[2] in ("JPEG", "MPO") else "png"
    body = encode(rgb, out_ext, options)
    transform = "+".join(ops) or "reencode"
    return PreparedImage(
        body, out_ext, rgb.width, rgb.height, *orig, transform, scale, pad_x, pad_y
    )


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:
        return 1


def _is_16bit_png(data: bytes) -> bool:
    return data.startswith(PNG_SIGNATURE) and len(data) > 25 and data[24] == 16
