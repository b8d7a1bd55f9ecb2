"""The chunk walk that vets pass-through PNGs without decoding them."""

from __future__ import annotations

import pytest
from data_builders import noise_array, png_bytes, png_chunk, raw_png

from dpt_core.data.png_check import PngCheckError, PngHeader, scan_png


def test_header_fields_and_exif_flag():
    data = png_bytes(noise_array(12, 20))
    assert scan_png(data) == PngHeader(
        width=20, height=12, bit_depth=8, color_type=2, has_exif=False
    )
    rows = b"".join(b"\x00" + bytes(16) for _ in range(4))  # 8 x 4, 16-bit gray
    with_exif = raw_png(8, 4, 16, 0, rows)
    iend = with_exif.rindex(b"IEND") - 4
    with_exif = with_exif[:iend] + png_chunk(b"eXIf", b"MM\x00*") + with_exif[iend:]
    assert scan_png(with_exif) == PngHeader(8, 4, 16, 0, has_exif=True)


@pytest.mark.parametrize(
    ("cut", "reason"),
    [(lambda d: d[:-1], "truncated"), (lambda d: d[: len(d) // 2], "truncated"),
     (lambda d: d[:40], "truncated"), (lambda d: b"GIF89a" + d[6:], "not_image")],
)  # fmt: skip
def test_truncated_or_foreign_data(cut, reason):
    with pytest.raises(PngCheckError) as info:
        scan_png(cut(png_bytes(noise_array(32, 32))))
    assert info.value.reason == reason


def test_bad_crc_and_missing_ihdr_are_corrupt():
    data = bytearray(png_bytes(noise_array(32, 32)))
    data[data.index(b"IDAT") + 10] ^= 0x01
    with pytest.raises(PngCheckError, match="bad CRC in PNG chunk b'IDAT'"):
        scan_png(bytes(data))
    no_ihdr = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IEND", b"")
    with pytest.raises(PngCheckError, match="IHDR"):
        scan_png(no_ihdr)
