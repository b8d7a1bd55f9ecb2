"""Read a PNG's header and check its chunk structure without decoding pixels.

Fast enough to run on every pass-through image: one walk over the chunks with a CRC-32 of
each. Catches truncation (the common failure) and corrupted chunks; a deflate stream that
is damaged under a valid CRC needs a full decode to find.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOR_TYPE_RGB = 2


class PngCheckError(ValueError):
    """A PNG that fails the check; ``reason`` is "not_image", "truncated" or "corrupt"."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class PngHeader:
    """IHDR fields of a PNG, and whether it has an ``eXIf`` chunk (orientation may apply)."""

    width: int
    height: int
    bit_depth: int
    color_type: int
    has_exif: bool


def scan_png(data: bytes) -> PngHeader:
    """Walk every chunk up to IEND checking its CRC; PngCheckError on failure."""
    if not data.startswith(PNG_SIGNATURE):
        raise PngCheckError("not_image", "no PNG signature")
    view, pos, ihdr, has_exif = memoryview(data), len(PNG_SIGNATURE), None, False
    while True:
        if pos + 12 > len(data):
            raise PngCheckError("truncated", f"PNG ends at byte {len(data)} before IEND")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            raise PngCheckError("truncated", f"PNG chunk {kind!r} runs past the end of the file")
        if zlib.crc32(view[pos + 4 : end - 4]) != struct.unpack_from(">I", data, end - 4)[0]:
            raise PngCheckError("corrupt", f"bad CRC in PNG chunk {kind!r} at byte {pos}")
        if ihdr is None and kind != b"IHDR":
            raise PngCheckError("corrupt", "PNG does not start with IHDR")
        if kind == b"IHDR":
            ihdr = struct.unpack_from(">IIBB", data, pos + 8)
        has_exif = has_exif or kind == b"eXIf"
        pos = end
        if kind == b"IEND":
            return PngHeader(*ihdr, has_exif=has_exif)
