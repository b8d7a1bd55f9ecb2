"""Builders for small datasets in their real on-disk formats (PIL-made images)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image


def rgb_array(height: int, width: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 with smooth structure (compresses like a photo, differs per seed)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = rng.integers(0, 256, size=3)
    arr = (base + xx[..., None] * rng.integers(1, 5, 3) + yy[..., None] * 3) % 256
    return arr.astype(np.uint8)


def noise_array(height: int, width: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 noise: PNGs of it are big enough to truncate meaningfully."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def png_bytes(arr: np.ndarray, mode: str | None = None, **save_args: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(arr, mode).save(out, "PNG", **save_args)
    return out.getvalue()


def jpeg_bytes(img: Image.Image | np.ndarray, **save_args: object) -> bytes:
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95, **save_args)
    return out.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def raw_png(width: int, height: int, bit_depth: int, color_type: int, rows: bytes) -> bytes:
    """A PNG built by hand: IHDR as given, ``rows`` = filtered scanlines (filter byte + data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def make_studio(root: Path, identities: int = 2, poses: int = 2, views: int = 2) -> Path:
    """A studio output folder in the contract's format (manifest, images, iuv, masks)."""
    rows = []
    for identity in range(identities):
        for pose in range(poses):
            for view in range(views):
                key = f"id{identity:05d}_p{pose:03d}_v{view:02d}"
                seed = identity * 100 + pose * 10 + view
                iuv = rgb_array(32, 32, seed + 1000)
                iuv[..., 2] %= 25  # PIL order: B = part id
                mask = np.where(rgb_array(32, 32, seed)[..., 0] > 100, 255, 0).astype(np.uint8)
                write_files(
                    root,
                    {
                        f"images/{key}.png": png_bytes(rgb_array(32, 32, seed)),
                        f"iuv/{key}.png": png_bytes(iuv),
                        f"masks/{key}.png": png_bytes(mask, "L"),
                    },
                )
                rows.append(
                    {
                        "key": key,
                        "image": f"images/{key}.png",
                        "iuv": f"iuv/{key}.png",
                        "mask": f"masks/{key}.png",
                        "identity": identity,
                        "person_id": f"id{identity:05d}",
                        "pose": f"pose{pose}",
                        "pose_index": pose,
                        "view": view,
                        "yaw_deg": 45.0 * view,
                        "split": "test" if identity == identities - 1 else "train",
                    }
                )
    pq.write_table(pa.Table.from_pylist(rows), root / "manifest.parquet")
    (root / "studio.json").write_text('{"seed": 0, "version": 1}')
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    """Every output file under ``root`` except stage markers and logs (they hold times)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(".done.json") and "failures" not in p.parts
    }
