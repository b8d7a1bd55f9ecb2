"""Write a studio data set: images, IUVs, masks, full atlases and a Parquet manifest.

Layout under ``out_url`` (any fsspec URL; every file is written atomically)::

    studio.json                 generation parameters (written last)
    manifest.parquet            one row per sample (streamed; committed when all samples are in)
    images/KEY.png  iuv/KEY.png  masks/KEY.png  atlases/idNNNNN.png

Samples are rendered in batches in key order, so memory stays flat in the number of samples;
``workers > 1`` renders batches in that many processes. Same arguments, byte-identical files.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from dpt_core import storage
from dpt_core.atlas import DEFAULT_N
from dpt_core.iuv import encode_iuv_png
from dpt_core.studio.batch import StudioBatch
from dpt_core.studio.identity import make_identity
from dpt_core.studio.render import (
    CLOTHING_LABELS,
    SPLAT_SPACING_PX,
    IdentityTextures,
    render_scenes,
)
from dpt_core.studio.scenes import SCENE_MODES, make_scene

logger = logging.getLogger(__name__)

STUDIO_VERSION = 1
TEST_FRACTION = 0.2
PNG_COMPRESS_LEVEL = 3
FOLDERS = ("images", "iuv", "masks")
ROW_GROUP = 4096  # manifest rows per Parquet row group, whatever the batch size
WRITERS = 3  # threads encoding PNGs and writing files while the next batch renders
MANIFEST_SCHEMA = pa.schema(
    [("key", pa.string()), ("image", pa.string()), ("iuv", pa.string()), ("mask", pa.string()),
     ("identity", pa.int32()), ("person_id", pa.string()), ("pose", pa.string()),
     ("pose_index", pa.int32()), ("view", pa.int32()), ("yaw_deg", pa.float32()),
     ("split", pa.string())]
)  # fmt: skip
_TEXTURES: dict[tuple[int, int], IdentityTextures] = {}  # per process, pruned to recent identities


@dataclass(frozen=True)
class BatchJob:
    """One batch of consecutive samples (flat indices ``start .. stop-1`` in key order)."""

    out_url: str
    start: int
    stop: int
    identities: int
    poses: int
    views: int
    size: int
    seed: int
    background: bool
    lit: bool
    scenes: str = "shoot"
    clothing: str = "beneath"


def test_identities(identities: int) -> int:
    """How many identities (the last ones) form the test split: 20 %, at least 1 if N >= 2."""
    return 0 if identities < 2 else max(1, round(TEST_FRACTION * identities))


def png_bytes(array: np.ndarray) -> bytes:
    """Deterministic PNG of an (H, W, 3) RGB or (H, W) L uint8 array (fixed level, no metadata)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(
        buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL
    )
    return buffer.getvalue()


def _scenes(job: BatchJob):
    per_identity = job.poses * job.views
    idents = {}
    for flat in range(job.start, job.stop):
        i, rest = divmod(flat, per_identity)
        if i not in idents:
            idents[i] = make_identity(i, job.seed)
        yield make_scene(idents[i], rest // job.views, rest % job.views, job.views, job.scenes)


def _render(job: BatchJob) -> tuple[list, StudioBatch]:
    scenes = list(_scenes(job))
    keep = {(job.seed, s.identity.index) for s in scenes}
    for key in [k for k in _TEXTURES if k not in keep]:
        del _TEXTURES[key]
    batch = render_scenes(
        scenes, job.size, lit=job.lit, background=job.background, textures=_TEXTURES,
        clothing=job.clothing,
    )  # fmt: skip
    return scenes, batch


def _write(url: str, encode: Callable[[np.ndarray], bytes], array: np.ndarray) -> None:
    storage.write_bytes(url, encode(array))


def _submit(job: BatchJob, scenes, batch: StudioBatch, pool: Executor) -> tuple[list, list]:
    """Queue PNG encoding and writing of a rendered batch: (manifest rows, futures)."""
    n_test, rows, futures = test_identities(job.identities), [], []
    for b, scene in enumerate(scenes):
        key, ident = scene.key, scene.identity
        url = {folder: storage.join(job.out_url, folder, f"{key}.png") for folder in FOLDERS}
        mask = batch.mask[b, 0].numpy().astype(np.uint8) * 255
        jobs = [
            (url["images"], png_bytes, batch.rgb[b].permute(1, 2, 0).numpy()),
            (url["iuv"], encode_iuv_png, batch.iuv[b].permute(1, 2, 0).numpy()),
            (url["masks"], png_bytes, mask),
        ]
        if scene.pose_index == 0 and scene.view == 0:
            atlas = batch.atlases[batch.atlas_index[b]].permute(1, 2, 0).numpy()
            atlas_url = storage.join(job.out_url, "atlases", f"{ident.person_id}.png")
            jobs.append((atlas_url, png_bytes, atlas))
        futures += [pool.submit(_write, *j) for j in jobs]
        split = "test" if ident.index >= job.identities - n_test else "train"
        rows.append({
            "key": key, "image": f"images/{key}.png", "iuv": f"iuv/{key}.png",
            "mask": f"masks/{key}.png", "identity": ident.index, "person_id": ident.person_id,
            "pose": scene.pose_name, "pose_index": scene.pose_index, "view": scene.view,
            "yaw_deg": scene.camera.yaw_deg, "split": split,
        })  # fmt: skip
    return rows, futures


def render_batch_job(job: BatchJob) -> list[dict]:
    """Render and write one batch; returns its manifest rows (runs in worker processes)."""
    scenes, batch = _render(job)
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        rows, futures = _submit(job, scenes, batch, pool)
        for future in futures:
            future.result()
    return rows


def _pipelined(jobs: Iterator[BatchJob]) -> Iterator[list[dict]]:
    """In-process: render batch k+1 while batch k is encoded and written by threads."""
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        in_flight: list[Future] = []
        for job in jobs:
            scenes, batch = _render(job)
            for future in in_flight:  # at most two batches in memory
                future.result()
            rows, in_flight = _submit(job, scenes, batch, pool)
            yield rows
        for future in in_flight:
            future.result()


def _check(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _jobs(out_url, identities, poses, views, size, seed, background, lit, batch_size, looks):
    total = identities * poses * views
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        yield BatchJob(out_url, start, stop, identities, poses, views, size, seed, background, lit,
                       *looks)  # fmt: skip


def _in_processes(jobs: Iterator[BatchJob], workers: int) -> Iterator[list[dict]]:
    """Rows of each job, in job order, rendered by ``workers`` processes (2 jobs each in flight)."""
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        pending: list[Future] = []
        for job in jobs:
            pending.append(pool.submit(render_batch_job, job))
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def _check_modes(scenes: str, clothing: str, size: int) -> None:
    if scenes not in SCENE_MODES:
        raise ValueError(f"scenes must be one of {SCENE_MODES}, got {scenes!r}")
    if clothing not in CLOTHING_LABELS:
        raise ValueError(f"clothing must be one of {CLOTHING_LABELS}, got {clothing!r}")
    if size < 8:
        raise ValueError(f"size must be >= 8, got {size}")


def _write_manifest(
    manifest_url: str, batches: Iterable[list[dict]], total: int, progress: Callable | None
) -> None:
    """Stream the rows of ``batches`` into ``manifest.parquet`` (row groups of ROW_GROUP)."""
    done = 0
    with (
        storage.open_atomic(manifest_url) as stream,
        pq.ParquetWriter(stream, MANIFEST_SCHEMA, compression="zstd") as writer,
    ):
        pending: list[dict] = []
        for rows in batches:
            pending += rows
            done += len(rows)
            while len(pending) >= ROW_GROUP or (done == total and pending):
                chunk, pending = pending[:ROW_GROUP], pending[ROW_GROUP:]
                writer.write_table(pa.Table.from_pylist(chunk, schema=MANIFEST_SCHEMA))
            if progress is not None:
                progress(done)


def generate_dataset(
    out_url: str,
    identities: int,
    poses: int,
    views: int,
    size: int = 256,
    seed: int = 0,
    background: bool = True,
    lit: bool = True,
    batch_size: int = 32,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    scenes: str = "shoot",
    clothing: str = "beneath",
) -> dict:
    """Render identities × poses × views samples to ``out_url``; returns a summary dict.

    ``scenes``: ``"shoot"`` (one background and light per identity) or ``"random"`` (per
    sample), see ``dpt_core.studio.scenes``; ``clothing``: how hair and loose clothes are
    labelled (``dpt_core.studio.render``). ``progress(n)`` is called with the number of
    samples finished after every batch.
    """
    counts = {"identities": identities, "poses": poses, "views": views, "size": size}
    _check(**counts, batch_size=batch_size, workers=workers)
    _check_modes(scenes, clothing, size)
    started, total = time.perf_counter(), identities * poses * views
    storage.makedirs(out_url)
    jobs = _jobs(
        out_url, identities, poses, views, size, seed, background, lit, batch_size,
        (scenes, clothing),
    )  # fmt: skip
    batches = _pipelined(jobs) if workers == 1 else _in_processes(jobs, workers)
    _write_manifest(storage.join(out_url, "manifest.parquet"), batches, total, progress)
    n_test = test_identities(identities)
    params = {
        "version": STUDIO_VERSION, "seed": seed, "identities": identities, "poses": poses,
        "views": views, "size": size, "background": background, "scenes": scenes, "lit": lit,
        "clothing": clothing, "samples": total,
        "atlas_n": DEFAULT_N, "spacing_px": SPLAT_SPACING_PX, "test_identities": n_test,
        "key_format": "id{identity:05d}_p{pose_index:03d}_v{view:02d}",
    }  # fmt: skip
    params_json = json.dumps(params, indent=2, sort_keys=True).encode()
    storage.write_bytes(storage.join(out_url, "studio.json"), params_json)
    seconds = time.perf_counter() - started
    logger.info("studio: %d samples to %s in %.1f s", total, storage.redact(out_url), seconds)
    return {
        "out_url": out_url, "samples": total, "identities": identities, "size": size,
        "train": (identities - n_test) * poses * views, "test": n_test * poses * views,
        "seconds": round(seconds, 3), "samples_per_s": round(total / max(seconds, 1e-9), 2),
    }  # fmt: skip
