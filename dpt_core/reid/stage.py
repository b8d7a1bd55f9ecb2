"""The augment-reid stage: every training identity rendered in K new poses, in Market-1501 layout.

Steps, each resumable (the flow ``augment-reid`` maps step 3 over identity shards):

1. :func:`prepare`: SRC and the pose bank into the work root (shards, IUVs), then the plan
   (``dpt_core.reid.plan``). The checkpoint is checked before any work.
2. :func:`copy_originals`: DST's originals (``dpt_core.reid.originals``).
3. :func:`augment_shard`: identity shard i's requests rendered by the render-batch stage (render
   set ``ROOT/renders/RUN/NAME-0000i``); each render is cropped to the re-id box
   (``dpt_core.reid.crop``) and written as ``DST/bounding_box_train/PPPP_cCs9_JJJJJJ_01.jpg``;
   then the part manifest ``ROOT/reid/NAME/parts/NAME-0000i.parquet`` and its marker, last. A
   shard committed with the same fingerprint whose files are all in DST is skipped. Requests
   the renderer refused go to ``failures/reid/NAME-0000i.parquet`` (its reasons in
   ``failures/render/``).
4. :func:`finalize_augment`: ``DST/augment_manifest.parquet`` (MANIFEST_SCHEMA: each generated
   image with its source image, target pose and checkpoint) and ``DST/augment.json``; generated
   files of an earlier plan that this one does not name are removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

import pyarrow as pa

from dpt_core import storage
from dpt_core.data import shards
from dpt_core.data.manifest import split_dataset_url
from dpt_core.densepose.extractors import decode_image_rgb
from dpt_core.reid.bank import ingest_pose_bank
from dpt_core.reid.config import AugmentConfig
from dpt_core.reid.crop import crop_resize, encode_jpeg
from dpt_core.reid.market import GENERATED_SEQUENCE, TRAIN_FOLDER, is_generated
from dpt_core.reid.originals import write_originals
from dpt_core.reid.plan import CROP_COLUMNS, STAGE, AugmentPlan, plan_augment
from dpt_core.reid.sources import MARKET, ingest_source, source_kind, source_records
from dpt_core.render import RenderJob, render_requests
from dpt_core.train.checkpoint import resolve_checkpoint

logger = logging.getLogger(__name__)

AUGMENT_VERSION = 1
MANIFEST_NAME, INFO_NAME = "augment_manifest.parquet", "augment.json"
MANIFEST_SCHEMA = pa.schema(
    [("name", pa.string()), ("folder", pa.string()), ("person", pa.string()),
     ("person_id", pa.string()), ("source_camera", pa.int32()), ("sequence", pa.int32()),
     ("index", pa.int32()), ("source_key", pa.string()), ("source_name", pa.string()),
     ("target_key", pa.string()), ("pose_bank", pa.string()), ("checkpoint", pa.string()),
     ("checkpoint_sha256", pa.string()), ("step", pa.int64()), ("render", pa.string()),
     ("width", pa.int32()), ("height", pa.int32()), ("sha256", pa.string())]
)  # fmt: skip


@dataclass
class AugmentSummary:
    """What an augmentation produced: DST, its manifest, counts and failures by reason."""

    dst: str
    manifest_url: str
    identities: int
    generated: int
    shards: int
    skipped_shards: int
    originals: dict[str, int]
    failures: dict[str, int]


def prepare(config: AugmentConfig) -> AugmentPlan:
    """Ingest SRC and the pose bank into the work root and write the plan."""
    checkpoint = resolve_checkpoint(config.checkpoint)  # fail before any work
    if not storage.exists(checkpoint):
        raise FileNotFoundError(f"checkpoint: no such file: {checkpoint}")
    options = config.extract_options()
    if source_kind(config.src) == MARKET:
        work = config.market_work_root()
    else:
        work = split_dataset_url(config.src)[0]
        config.check_work_root(work)
    source = ingest_source(config.src, work, options, config.max_count)
    bank = ingest_pose_bank(config.pose_bank, work, config.max_count)
    return plan_augment(config, source, bank)


def copy_originals(plan: AugmentPlan) -> dict[str, int]:
    """DST's originals (train, gallery, query); ``{"written": n, "kept": m}``."""
    records, _ = source_records(plan.source)
    return write_originals(plan.source, records, plan.config.dst, plan.config.jpeg_quality)


def part_url(plan: AugmentPlan, index: int) -> str:
    """``ROOT/reid/NAME/parts/NAME-0000i.parquet``."""
    return storage.join(plan.url, "parts", f"{shards.shard_name(plan.name, index)}.parquet")


def render_job(plan: AugmentPlan, index: int, requests: int) -> RenderJob:
    """The render set of identity shard ``index``: all its requests in one render shard."""
    source, bank, config = plan.source, plan.bank, plan.config
    own = (bank.dataset, bank.source) == (source.dataset, source.iuv_source)
    return RenderJob(
        source.root_url, plan.checkpoint_url, shards.shard_name(plan.name, index), run=plan.run,
        dataset=source.dataset, iuv_source=source.iuv_source,
        pose_bank=None if own else bank.dataset, pose_bank_source=None if own else bank.source,
        batch_size=config.batch_size, shard_size=max(requests, 1), device=config.device,
    )  # fmt: skip


def _write_generated(plan: AugmentPlan, row: dict, png: bytes, render_url: str) -> dict:
    """Crop one render, write its JPEG to DST; its manifest row."""
    config = plan.config
    box = tuple(row[c] for c in CROP_COLUMNS)
    data = encode_jpeg(crop_resize(decode_image_rgb(png), box, config.size), config.jpeg_quality)
    storage.write_bytes(storage.join(config.dst, TRAIN_FOLDER, row["name"]), data)
    return {
        "name": row["name"], "folder": TRAIN_FOLDER, "person": row["person"],
        "person_id": row["person_id"], "source_camera": row["camera"],
        "sequence": GENERATED_SEQUENCE, "index": row["index"], "source_key": row["source_key"],
        "source_name": row["source_name"], "target_key": row["target_key"],
        "pose_bank": plan.bank.origin, "checkpoint": plan.checkpoint_url,
        "checkpoint_sha256": plan.checkpoint_sha256, "step": plan.step, "render": render_url,
        "width": config.size[1], "height": config.size[0],
        "sha256": hashlib.sha256(data).hexdigest(),
    }  # fmt: skip


def _train_names(plan: AugmentPlan) -> set[str]:
    url = storage.join(plan.config.dst, TRAIN_FOLDER)
    return {u.rsplit("/", 1)[-1] for u in storage.ls(url)} if storage.exists(url) else set()


def augment_shard(plan: AugmentPlan, index: int) -> dict:
    """Render and write identity shard ``index`` (see the module docstring); a summary dict."""
    rows = plan.rows(index)
    if not rows:
        raise ValueError(f"index: identity shard {index} is not in the plan {plan.url}")
    out_url, config = part_url(plan, index), plan.config
    fp = storage.fingerprint(AUGMENT_VERSION, plan.checkpoint_sha256, rows, config.size,
                             config.jpeg_quality, config.dst)  # fmt: skip
    if storage.is_committed(out_url, fp) and {r["name"] for r in rows} <= _train_names(plan):
        logger.info("%s is up to date: skipped", out_url)
        return {"shard": out_url, "skipped": True, **storage.read_marker(out_url)["info"]}
    job = render_job(plan, index, len(rows))
    summary = render_requests(job, [(r["source_key"], r["target_key"]) for r in rows])
    pending, manifest = {r["render_key"]: r for r in rows}, []
    for result in summary.shard_results:
        for sample in shards.iter_shard(result["shard"]):
            row = pending.pop(str(sample["__key__"]), None)
            if row is not None:
                manifest.append(_write_generated(plan, row, bytes(sample["png"]), result["shard"]))
    failures = [storage.Failure(r["name"], f"{r['source_key']}>{r['target_key']}", STAGE,
                                "not rendered", f"see failures/render/{job.name}.parquet")
                for r in pending.values()]  # fmt: skip
    if failures:
        storage.append_failures(plan.source.root_url, STAGE, job.name, failures)
    shards.write_manifest(out_url, manifest, MANIFEST_SCHEMA)
    info = {"count": len(manifest), "failures": len(failures)}
    storage.mark_committed(out_url, fp, **info)
    logger.info("%s: %d generated, %d not rendered", out_url, *info.values())
    return {"shard": out_url, "skipped": False, **info}


def _failure_counts(plan: AugmentPlan) -> dict[str, int]:
    names = [plan.name, *(shards.shard_name(plan.name, i) for i in range(plan.shards))]
    found = [f for n in names for f in storage.read_failures(plan.source.root_url, STAGE, n)]
    return dict(sorted(Counter(f.reason for f in found).items()))


def _remove_stale(plan: AugmentPlan, keep: set[str]) -> int:
    """Delete generated files in DST's training folder that the plan does not name."""
    stale = sorted(n for n in _train_names(plan) - keep if is_generated(n))
    for name in stale:
        fs, path = storage.url_to_fs(storage.join(plan.config.dst, TRAIN_FOLDER, name))
        fs.rm_file(path)
    if stale:
        logger.info(
            "%s: removed %d generated files of an earlier plan", plan.config.dst, len(stale)
        )
    return len(stale)


def finalize_augment(
    plan: AugmentPlan, results: list[dict] | None = None, originals: dict | None = None
) -> AugmentSummary:
    """Write DST's manifest and ``augment.json`` from every committed part (RuntimeError naming
    a missing part); ``results``: the shards' summaries, for the skipped count."""
    parts = [part_url(plan, i) for i in range(plan.shards)]
    missing = [u for u in parts if storage.read_marker(u) is None]
    if missing:
        raise RuntimeError(f"{len(missing)} identity shard(s) not done (re-run): {missing[:3]}")
    tables = [shards.read_manifest(u).cast(MANIFEST_SCHEMA) for u in parts]
    table = pa.concat_tables(tables) if tables else MANIFEST_SCHEMA.empty_table()
    manifest_url = storage.join(plan.config.dst, MANIFEST_NAME)
    shards.write_manifest(manifest_url, table.sort_by("name"), MANIFEST_SCHEMA)
    _remove_stale(plan, set(table.column("name").to_pylist()))
    summary = AugmentSummary(
        plan.config.dst, manifest_url, plan.identities, table.num_rows, plan.shards,
        sum(bool(r.get("skipped")) for r in results or []), originals or {}, _failure_counts(plan),
    )  # fmt: skip
    info = {"version": AUGMENT_VERSION, **asdict(summary), "plan": plan.url,
            "reserved_code": f"generated images use sequence s{GENERATED_SEQUENCE}",
            "checkpoint": plan.checkpoint_url, "checkpoint_sha256": plan.checkpoint_sha256,
            "step": plan.step, "config": asdict(plan.config)}  # fmt: skip
    storage.write_bytes(
        storage.join(plan.config.dst, INFO_NAME), json.dumps(info, indent=1).encode()
    )
    logger.info("%s: %d generated images of %d identities", plan.config.dst, table.num_rows,
                plan.identities)  # fmt: skip
    return summary


def augment_reid(
    config: AugmentConfig, progress: Callable[[int, int], None] | None = None
) -> AugmentSummary:
    """Every step in this process; ``progress(done, total)`` after each identity shard."""
    plan = prepare(config)
    originals = copy_originals(plan)
    results = []
    for index in range(plan.shards):
        results.append(augment_shard(plan, index))
        if progress is not None:
            progress(index + 1, plan.shards)
    return finalize_augment(plan, results, originals)
