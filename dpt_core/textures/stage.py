"""The precompute-textures stage: every image scattered through its IUV into a partial atlas.

Reads ``ROOT/datasets/NAME/shards/NAME-NNNNN.tar`` (images) and
``ROOT/densepose/NAME/SOURCE/NAME-NNNNN.tar`` (``KEY.iuv.png``) and writes
``ROOT/textures/NAME/NAME-NNNNN.tar`` with ``KEY.tex.png`` (RGB atlas, 6n × 4n, the mean colour
of the pixels landing on each texel, lossless) and ``KEY.vis.png`` (L, 255 = seen), plus a
Parquet manifest beside it (visible fraction overall and per part). Keys are the IUV keys (the
image key, or ``KEY_pNN`` per person in extract mode "each").

``n`` (texels per tile side) is an argument: 200 (DensePose's own atlases) for real data; when
the textures feed training, pass the model scale's ``atlas_n`` (16 tiny, 32 demo, 64 paper):
the trainer uses a texture shard only when its ``n`` equals the scale's and otherwise scatters
on the fly. A shard whose marker matches the input fingerprint (both input tars' sha256, ``n``,
``source``) is skipped. Images stream; one shard's IUV and texture PNGs (compressed, mostly
empty atlas) are held in memory, so memory follows the shard size, not the data set's.
Missing IUV, image/IUV size mismatch, empty IUV and undecodable images go to
``failures/textures/NAME.parquet`` and never stop the shard.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import pyarrow as pa

from dpt_core import storage
from dpt_core.atlas import DEFAULT_N, TILE_COLS, TILE_ROWS, atlas_shape, scatter
from dpt_core.data import shards
from dpt_core.densepose.extractors import IMAGE_EXTS, decode_image_rgb
from dpt_core.iuv import N_PARTS, decode_iuv_png

logger = logging.getLogger(__name__)

STAGE = "textures"
TEXTURES_VERSION = 1
TEX_EXT, VIS_EXT, IUV_EXT = "tex.png", "vis.png", "iuv.png"
PART_COLUMNS = tuple(f"vis_p{p:02d}" for p in range(1, N_PARTS + 1))
MANIFEST_SCHEMA = pa.schema(
    [("key", pa.string()), ("image_key", pa.string()), ("n", pa.int32()),
     ("height", pa.int32()), ("width", pa.int32()), ("visible", pa.float32())]
    + [(c, pa.float32()) for c in PART_COLUMNS]
)  # fmt: skip


def texture_shard_url(root_url: str, name: str, index: int) -> str:
    """``ROOT/textures/NAME/NAME-NNNNN.tar``."""
    return storage.join(root_url, "textures", name, f"{shards.shard_name(name, index)}.tar")


def dataset_shard_url(root_url: str, name: str, index: int) -> str:
    """``ROOT/datasets/NAME/shards/NAME-NNNNN.tar``."""
    return storage.join(
        root_url, "datasets", name, "shards", f"{shards.shard_name(name, index)}.tar"
    )


def iuv_shard_url(root_url: str, name: str, source: str, index: int) -> str:
    """``ROOT/densepose/NAME/SOURCE/NAME-NNNNN.tar``."""
    return storage.join(
        root_url, "densepose", name, source, f"{shards.shard_name(name, index)}.tar"
    )


def part_visibility(visibility_hw: np.ndarray) -> np.ndarray:
    """(24,) float32: fraction of each part's tile that is visible, part p at index p - 1."""
    n = visibility_hw.shape[0] // TILE_ROWS
    tiles = visibility_hw.reshape(TILE_ROWS, n, TILE_COLS, n).mean(axis=(1, 3))
    return tiles.T.reshape(-1).astype(np.float32)  # column-major tiles: part p-1 = col*6 + row


def encode_texture(atlas_rgb: np.ndarray, visibility_hw: np.ndarray) -> tuple[bytes, bytes]:
    """(tex PNG of an (6n, 4n, 3) uint8 RGB atlas, vis PNG of its (6n, 4n) bool visibility)."""
    ok_tex, tex = cv2.imencode(".png", np.ascontiguousarray(atlas_rgb[..., ::-1]))
    ok_vis, vis = cv2.imencode(".png", visibility_hw.astype(np.uint8) * 255)
    if not (ok_tex and ok_vis):  # pragma: no cover - cv2 only fails on out-of-memory
        raise ValueError("encode_texture: cv2 could not encode the atlas")
    return tex.tobytes(), vis.tobytes()


def decode_texture(tex_png: bytes, vis_png: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(atlas (6n, 4n, 3) uint8 RGB, visibility (6n, 4n) bool) from ``encode_texture``'s PNGs."""
    tex = cv2.imdecode(np.frombuffer(tex_png, np.uint8), cv2.IMREAD_COLOR)
    vis = cv2.imdecode(np.frombuffer(vis_png, np.uint8), cv2.IMREAD_GRAYSCALE)
    if tex is None or vis is None or tex.shape[:2] != vis.shape:
        raise ValueError("decode_texture: corrupt texture PNGs or tex/vis sizes differ")
    return np.ascontiguousarray(tex[..., ::-1]), vis > 127


def _load_iuvs(iuv_url: str) -> dict[str, list[tuple[str, bytes]]]:
    """image key -> [(IUV key, IUV PNG bytes)] of one IUV shard (KEY or KEY_pNN keys)."""
    by_image: dict[str, list[tuple[str, bytes]]] = {}
    table = shards.read_manifest(shards.shard_manifest_url(iuv_url))
    keys, image_keys = table.column("key").to_pylist(), table.column("image_key").to_pylist()
    image_key = dict(zip(keys, image_keys, strict=True))
    for sample in shards.iter_shard(iuv_url):
        key = str(sample["__key__"])
        if IUV_EXT in sample:
            by_image.setdefault(image_key.get(key, key), []).append((key, sample[IUV_EXT]))
    return by_image


class _Rejected(ValueError):
    """Why one sample yields no texture: a failures-log ``reason`` and ``detail``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def _texture_record(key: str, image_key: str, image_hw3: np.ndarray, iuv_png: bytes, n: int):
    """(shard sample, manifest row) of one IUV; ``_Rejected`` when the IUV is unusable."""
    try:
        iuv_hw3 = decode_iuv_png(iuv_png, name=f"{key}.{IUV_EXT}")
    except ValueError as exc:
        raise _Rejected("bad iuv", str(exc)) from None
    if iuv_hw3.shape[:2] != image_hw3.shape[:2]:
        raise _Rejected("size mismatch", f"image {image_hw3.shape[:2]}, IUV {iuv_hw3.shape[:2]}")
    if not iuv_hw3[..., 0].any():
        raise _Rejected("empty iuv", "no body pixel (I > 0)")
    atlas_rgb, visibility = scatter(image_hw3, iuv_hw3, n)
    tex, vis = encode_texture(atlas_rgb, visibility)
    parts = part_visibility(visibility)
    row = {
        "key": key,
        "image_key": image_key,
        "n": n,
        "height": image_hw3.shape[0],
        "width": image_hw3.shape[1],
        "visible": float(visibility.mean()),
        **dict(zip(PART_COLUMNS, parts.tolist(), strict=True)),
    }
    return {"__key__": key, TEX_EXT: tex, VIS_EXT: vis}, row


def _image(sample: dict, has_iuv: bool) -> np.ndarray:
    """The sample's decoded (H, W, 3) RGB image; ``_Rejected`` without IUV or image."""
    if not has_iuv:
        raise _Rejected("missing iuv", "no IUV sample for this image in the IUV shard")
    data = next((sample[e] for e in IMAGE_EXTS if e in sample), None)
    if data is None:
        raise _Rejected("bad image", "no image member (png/jpg)")
    try:
        return decode_image_rgb(bytes(data))
    except ValueError as exc:
        raise _Rejected("bad image", str(exc)) from None


def _records(
    in_url: str, iuvs: dict[str, list[tuple[str, bytes]]], n: int, failures: list
) -> Iterator[tuple[dict, dict]]:
    """Texture records of every image in the dataset shard; failures appended to ``failures``."""
    for sample in shards.iter_shard(in_url):
        key = str(sample["__key__"])
        try:
            image_hw3 = _image(sample, key in iuvs)
        except _Rejected as rejected:
            failures.append(storage.Failure(key, in_url, STAGE, rejected.reason, rejected.detail))
            continue
        for iuv_key, iuv_png in iuvs[key]:
            try:
                yield _texture_record(iuv_key, key, image_hw3, iuv_png, n)
            except _Rejected as rejected:
                failures.append(
                    storage.Failure(iuv_key, in_url, STAGE, rejected.reason, rejected.detail)
                )


def precompute_textures_shard(
    root_url: str,
    name: str,
    shard_index: int,
    n: int = DEFAULT_N,
    source: str = "studio",
    overwrite: bool = False,
) -> dict:
    """Write the texture shard of dataset shard ``shard_index``; returns a summary dict.

    Summary: ``shard`` URL, ``skipped``, ``count``, ``failures``, ``n``, ``sha256``.
    FileNotFoundError names a missing input shard; ValueError a bad ``n``.
    """
    atlas_shape(n)  # validates n
    in_url = dataset_shard_url(root_url, name, shard_index)
    iuv_url = iuv_shard_url(root_url, name, source, shard_index)
    out_url = texture_shard_url(root_url, name, shard_index)
    for url, what in ((in_url, "dataset shard"), (iuv_url, f"IUV shard (source {source!r})")):
        if not storage.exists(url):
            raise FileNotFoundError(f"{what} not found: {url}")
    fp = storage.fingerprint(
        storage.sha256(in_url),
        storage.sha256(iuv_url),
        {"n": n, "source": source, "v": TEXTURES_VERSION},
    )
    if not overwrite and storage.is_committed(out_url, fp):
        logger.info("%s is up to date: skipped", out_url)
        info = (storage.read_marker(out_url) or {}).get("info", {})
        return {"shard": out_url, "skipped": True, **info}
    failures: list[storage.Failure] = []
    samples, rows = [], []
    for sample, row in _records(in_url, _load_iuvs(iuv_url), n, failures):
        samples.append(sample)
        rows.append(row)
    info = shards.write_shard(out_url, samples)  # a list: sorted by key (mode "each" keys too)
    rows.sort(key=lambda r: r["key"])
    shards.write_manifest(shards.shard_manifest_url(out_url), rows, schema=MANIFEST_SCHEMA)
    if failures:
        storage.append_failures(root_url, STAGE, name, failures)
    summary = {"count": info.count, "failures": len(failures), "n": n, "sha256": info.sha256}
    storage.mark_committed(out_url, fp, **summary)
    logger.info("%s: %d textures (n=%d), %d failures", out_url, info.count, n, len(failures))
    return {"shard": out_url, "skipped": False, **summary}


def precompute_textures(
    root_url: str,
    name: str,
    n: int = DEFAULT_N,
    source: str = "studio",
    overwrite: bool = False,
    on_result: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Precompute the textures of every shard of dataset ``name``; summaries in shard order.

    A failing shard does not stop the others; then one RuntimeError names every failed shard.
    """
    folder = storage.join(root_url, "datasets", name, "shards")
    urls = shards.shard_urls(folder)
    if not urls:
        raise FileNotFoundError(f"no shards in {folder}")

    def textures(url: str) -> dict:
        summary = precompute_textures_shard(
            root_url, name, shards.shard_index(url), n, source, overwrite
        )
        if on_result is not None:
            on_result(summary)
        return summary

    return shards.run_each_shard(urls, textures)
