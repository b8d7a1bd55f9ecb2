"""The render-batch stage's shard-level work: decode requests, run the generator, write shards."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import pyarrow as pa
import torch

from dpt_core import storage
from dpt_core.data import shards
from dpt_core.models import DensePoseTransfer, images_from_model
from dpt_core.render.inputs import InputIndex, decode_target_iuv, fetch_members, input_indexes
from dpt_core.render.job import (
    BRANCHES,
    MANIFEST_SCHEMA,
    PNG_COMPRESSION,
    STAGE,
    RenderJob,
    RenderSummary,
    shard_url,
)
from dpt_core.render.plan import pairs_requests, plan_render, read_render_info, read_requests
from dpt_core.train.checkpoint import checkpoint_scale, load_checkpoint
from dpt_core.train.samples import decode_sample

logger = logging.getLogger(__name__)


def to_uint8_hwc(images_bchw: torch.Tensor) -> np.ndarray:
    """Model images (B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8 RGB."""
    scaled = (images_from_model(images_bchw.float()) * 255.0).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).cpu().numpy()


def png_rgb(image_hw3: np.ndarray) -> bytes:
    """Deterministic PNG bytes of an (H, W, 3) uint8 RGB array."""
    params = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image_hw3[..., ::-1]), params)
    if not ok:  # pragma: no cover - cv2 fails here only when out of memory
        raise ValueError("png_rgb: cv2 could not encode the image")
    return buf.tobytes()


@functools.lru_cache(maxsize=2)
def load_render_model(checkpoint_url: str, sha256: str, device: str) -> DensePoseTransfer:
    """The generator of a checkpoint in eval mode on ``device`` (cached per process)."""
    payload = load_checkpoint(checkpoint_url)
    model = DensePoseTransfer.from_config(checkpoint_scale(payload))
    model.load_state_dict(payload["models"]["generator"])
    return model.to(device).eval()


@dataclass(frozen=True)
class _Item:
    key: str
    source_key: str
    target_key: str
    person_id: str
    tensors: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # source, source IUV, target IUV


def _decode(
    job: RenderJob, info: dict, rows: list[dict], indexes: tuple, failures: list
) -> Iterator[_Item]:
    """Decoded items of one shard's request rows, lazily; unusable ones go to ``failures``."""
    sources, bank = indexes
    src_keys, tgt_keys = {r["source_key"] for r in rows}, {r["target_key"] for r in rows}
    images = fetch_members(sources.images, src_keys)
    iuvs = fetch_members(sources.iuvs, src_keys | (tgt_keys if bank is sources else set()))
    target_iuvs = iuvs if bank is sources else fetch_members(bank.iuvs, tgt_keys)
    for row in rows:
        s, t = row["source_key"], row["target_key"]
        fail = functools.partial(_failure, row["key"])
        if s not in images or s not in iuvs:
            what = "image" if s not in images else "IUV"
            failures.append(fail(f"{job.dataset}/{s}", "missing source", f"no source {what}"))
            continue
        if t not in target_iuvs:
            failures.append(fail(f"{job.target_dataset}/{t}", "missing target", "no target IUV"))
            continue
        try:
            members = {**images[s], "iuv.png": iuvs[s]["iuv.png"]}
            sample = decode_sample(s, members, info["image_size"], info["atlas_n"])
            target = decode_target_iuv(t, target_iuvs[t]["iuv.png"], info["image_size"])
        except (KeyError, ValueError) as exc:
            failures.append(fail(f"{s}>{t}", "bad iuv", f"{type(exc).__name__}: {exc}"))
            continue
        empty = [n for n, iuv in (("source", sample.iuv), ("target", target)) if not iuv[0].any()]
        if empty:
            failures.append(fail(f"{s}>{t}", "bad iuv", f"{empty[0]} IUV has no body pixel"))
            continue
        tensors = (sample.image, sample.iuv, target)
        yield _Item(row["key"], s, t, sources.person.get(s, ""), tensors)


def _failure(key: str, source: str, reason: str, detail: str) -> storage.Failure:
    return storage.Failure(key, source, STAGE, reason, detail)


def _render(model: DensePoseTransfer, batch: list[_Item], job: RenderJob) -> list[dict]:
    """Shard samples of one batch: ``KEY.png`` and the requested branch members."""
    inputs = [torch.stack(t).to(job.device) for t in zip(*(i.tensors for i in batch), strict=True)]
    with torch.inference_mode():
        out = model(*inputs)
    arrays = {"png": to_uint8_hwc(out.image)}
    arrays |= {f"{b}.png": to_uint8_hwc(getattr(out, BRANCHES[b])) for b in job.branches}
    return [{"__key__": item.key, **{ext: png_rgb(a[i]) for ext, a in arrays.items()}}
            for i, item in enumerate(batch)]  # fmt: skip


def _manifest_rows(job: RenderJob, info: dict, index: int, items: list[_Item]) -> list[dict]:
    stem, members = shards.shard_name(job.name, index), ["png", *(f"{b}.png" for b in job.branches)]
    return [{"key": i.key, "shard": stem, "source_key": i.source_key, "target_key": i.target_key,
             "source_dataset": job.dataset, "target_dataset": job.target_dataset,
             "person_id": i.person_id, "checkpoint": info["checkpoint_url"],
             "step": info["step"], "members": ",".join(members)} for i in items]  # fmt: skip


def render_shard(
    job: RenderJob, index: int, indexes: tuple[InputIndex, InputIndex] | None = None
) -> dict:
    """Render output shard ``index`` of a planned set (see ``plan_render``); a summary dict.

    ``indexes``: (sources, targets) ``InputIndex`` to reuse across shards (built if None).
    """
    info = read_render_info(job.url)
    rows = read_requests(job.url, index).to_pylist()
    if not rows:
        raise ValueError(f"index: shard {index} is not in the plan of {job.url}")
    wanted = ({r["source_key"] for r in rows}, {r["target_key"] for r in rows})
    sources, bank = indexes or input_indexes(job, *wanted)
    used = sources.urls({r["source_key"] for r in rows})
    used += bank.urls({r["target_key"] for r in rows}, images=False)
    inputs = {u: (storage.read_marker(u) or {}).get("fingerprint") or storage.size(u) for u in used}
    settings = {k: info[k] for k in ("version", "checkpoint_sha256", "branches", "dataset",
                                     "iuv_source", "target_dataset", "target_source")}  # fmt: skip
    out_url, fp = shard_url(job, index), storage.fingerprint(settings, rows, inputs)
    if storage.is_committed(out_url, fp):
        logger.info("%s is up to date: skipped", out_url)
        return {"shard": out_url, "skipped": True, **storage.read_marker(out_url)["info"]}
    model = load_render_model(info["checkpoint_url"], info["checkpoint_sha256"], job.device)
    failures, items = [], []  # items: the rendered requests, tensors dropped

    def samples() -> Iterator[dict]:
        decoded = _decode(job, info, rows, (sources, bank), failures)
        for batch in shards.batched(decoded, job.batch_size):
            yield from _render(model, batch, job)
            items.extend(dataclasses.replace(i, tensors=()) for i in batch)

    written = shards.write_shard(out_url, samples())
    manifest = _manifest_rows(job, info, index, items)
    shards.write_manifest(shards.shard_manifest_url(out_url), manifest, MANIFEST_SCHEMA)
    if failures:
        storage.append_failures(job.root_url, STAGE, job.name, failures)
    summary = {"count": written.count, "failures": len(failures), "sha256": written.sha256}
    storage.mark_committed(out_url, fp, **summary)
    logger.info("%s: %d renders, %d failures", out_url, written.count, len(failures))
    return {"shard": out_url, "skipped": False, **summary}


def render_requests(
    job: RenderJob,
    requests: pa.Table | Sequence[tuple[str, str]],
    progress: Callable[[int, int], None] | None = None,
) -> RenderSummary:
    """Plan and render every shard of ``requests`` ((source_key, target_key) pairs, or a table
    with those columns); ``progress(done, total)`` is called after each shard."""
    info = plan_render(job, requests)
    summary, indexes = RenderSummary(job.url, info["shards"]), input_indexes(job)
    for index in range(info["shards"]):
        result = render_shard(job, index, indexes)
        summary.shard_results.append(result)
        summary.skipped += int(result["skipped"])
        summary.rendered += int(not result["skipped"])
        summary.samples += int(result.get("count", 0))
        summary.failures += int(result.get("failures", 0))
        if progress is not None:
            progress(index + 1, info["shards"])
    return summary


def render_pairs(
    job: RenderJob,
    split: str = "test",
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RenderSummary:
    """Render ``pairs_requests(job, split, limit)`` (``pairs/DATASET/SPLIT.parquet``)."""
    return render_requests(job, pairs_requests(job, split, limit), progress)
