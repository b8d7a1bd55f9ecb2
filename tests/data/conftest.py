"""Fixtures of the data-plane tests (builders live in data_builders.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_builders import jpeg_bytes, noise_array, png_bytes, rgb_array, write_files


@pytest.fixture
def photo_tree(tmp_path: Path) -> Path:
    """image-folder tree: 2 persons, good PNG/JPEG images, and 3 bad files."""
    src = tmp_path / "photos"
    write_files(
        src,
        {
            "alice/a1.png": png_bytes(rgb_array(24, 16, 1)),
            "alice/a2.jpg": jpeg_bytes(rgb_array(24, 16, 2)),
            "alice/a3.png": png_bytes(rgb_array(20, 20, 3)),
            "bob/b1.png": png_bytes(rgb_array(16, 16, 4)),
            "bob/b.2.png": png_bytes(rgb_array(16, 12, 5)),
            "bob/empty.png": b"",
            "bob/notes.jpg": b"this is not an image",
            "bob/readme.txt": b"skipped: not an image extension",
            "carol/c1.png": png_bytes(noise_array(32, 32, 6))[:1500],  # truncated
        },
    )
    return src
