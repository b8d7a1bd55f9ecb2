"""The eval stage: a render set scored against ground truth, per image and per branch.

For every rendered sample whose target is an image of the same person, each branch present
(``blended`` = KEY.png, ``predictive`` = KEY.pred.png, ``warped`` = KEY.warp.png) is compared
with the target image at the model's size: ``IMAGE_COLUMNS`` (SSIM, MS-SSIM, PSNR, L1, LPIPS,
and their person-mask variants), per-region L1 / mask-SSIM inside the body (I > 0) and outside
it on the person mask (hair, loose clothing), and L1 per body part. The completed texture
(KEY.tex.png) is scored on the texels the source did not see against the person's full atlas
(studio ``atlases/PERSON.png``), beside the mean-part-colour baseline. Metrics a setting cannot
give (MS-SSIM below 161 px, LPIPS without weights) are null with the reason in the summary.

Writes ``RENDERS/eval/metrics.parquet`` (one row per image and branch),
``RENDERS/eval/summary.parquet`` (means per branch) and ``RENDERS/eval/report.html``.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import yaml

from dpt_core import render, report, storage
from dpt_core.atlas import atlas_shape, scatter, tile_origin
from dpt_core.contact_sheet import contact_sheet_png
from dpt_core.data import shards
from dpt_core.data.manifest import read_dataset_manifest
from dpt_core.iuv import N_PARTS
from dpt_core.metrics import (
    IMAGE_COLUMNS,
    MetricWeights,
    compute_image_metrics_batch,
    l1,
    load_lpips,
    mean_part_colour_fill,
    mirrored_part_fill,
    nearest_visible_fill,
    push_pull_fill,
    ssim,
    strip_fill,
    texture_completion_error,
    texture_error_by_part,
)
from dpt_core.studio.preview import iuv_to_rgb
from dpt_core.train.samples import Sample, decode_sample

logger = logging.getLogger(__name__)

IMAGE_BRANCHES = {"predictive": "pred.png", "warped": "warp.png", "blended": "png"}
TEXTURE_BRANCHES = (
    "texture",
    "texture_mean_fill",
    "texture_nearest_fill",
    "texture_mirror_fill",
    "texture_pushpull_fill",
    "texture_strip_fill",
)
"""The completed atlas, then the baselines (metrics.texture); in texture rows the per-part
columns ``l1_pNN`` hold that part's texture error on unseen texels."""
REGION_COLUMNS = ("l1_body", "ssim_body", "l1_outside", "ssim_outside")
PART_COLUMNS = tuple(f"l1_p{p:02d}" for p in range(1, N_PARTS + 1))
METRIC_COLUMNS = (*IMAGE_COLUMNS, *REGION_COLUMNS, "texture_error", *PART_COLUMNS)
ID_COLUMNS = ("key", "branch", "source_key", "target_key", "person_id")


@dataclass(frozen=True)
class EvalOptions:
    """``atlases_url``: folder of full atlases ``PERSON.png`` (None: the studio's, found through
    the data set manifest); ``weights``: LPIPS weights; ``grid``: samples shown in the report."""

    atlases_url: str | None = None
    weights: MetricWeights | None = None
    grid: int = 8
    batch_size: int = 16


@dataclass(frozen=True)
class EvalResult:
    """Where the eval wrote its files, and the summary rows (one per branch)."""

    render_url: str
    metrics_url: str
    summary_url: str
    report_url: str
    summary: list[dict]
    images: int
    sheet_url: str | None = None  # eval/contact_sheet.png, when any sample was rendered


def part_l1(
    pred_bchw: torch.Tensor, target_bchw: torch.Tensor, iuv_b3hw: torch.Tensor
) -> torch.Tensor:
    """(B, 24) mean absolute error per body part (channels averaged); NaN where a part is absent.

    Images float in [0, 1]; ``iuv_b3hw`` holds (I, U·255, V·255).
    """
    error_bn = (pred_bchw - target_bchw).abs().mean(1).flatten(1).double()
    parts_bn = iuv_b3hw[:, 0].flatten(1).long()
    sums = torch.zeros(len(error_bn), N_PARTS + 1, dtype=torch.float64).scatter_add_(
        1, parts_bn, error_bn
    )
    counts = torch.zeros_like(sums).scatter_add_(1, parts_bn, torch.ones_like(error_bn))
    return torch.where(counts > 0, sums / counts.clamp_min(1), torch.nan)[:, 1:]


def region_metrics(
    pred_bchw: torch.Tensor,
    target_bchw: torch.Tensor,
    iuv_b3hw: torch.Tensor,
    mask_b1hw: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """L1 and mask-SSIM inside the body (I > 0) and outside it on the person mask (hair, loose
    clothing), each (B,), NaN where a region is empty. Images float (B, 3, H, W) in [0, 1]."""
    body = iuv_b3hw[:, :1] > 0
    regions = {"body": body, "outside": (mask_b1hw > 0.5) & ~body}
    out = {}
    for name, region in regions.items():
        out[f"l1_{name}"] = l1(pred_bchw, target_bchw, region)
        out[f"ssim_{name}"] = ssim(pred_bchw, target_bchw, region)
    return out


def resample_atlas(atlas_rgb: np.ndarray, n: int) -> np.ndarray:
    """A (6N, 4N, 3) atlas at tile size ``n``: each tile box-filtered over one output texel and
    sampled at the texel positions ``x = U·(n-1)`` of DESIGN.md. Returns (6n, 4n, 3) uint8."""
    big = atlas_rgb.shape[0] // 6
    if atlas_rgb.ndim != 3 or atlas_rgb.shape[:2] != atlas_shape(max(big, 1)):
        raise ValueError(f"atlas_rgb: expected a (6N, 4N, 3) atlas, got {atlas_rgb.shape}")
    idx = np.rint(np.arange(n) * (big - 1) / max(n - 1, 1)).astype(np.int64)
    k = max(1, round(big / n))
    out = np.zeros((*atlas_shape(n), 3), np.uint8)
    for part in range(1, N_PARTS + 1):
        (r0, c0), (s0, t0) = tile_origin(part, big), tile_origin(part, n)
        tile = cv2.blur(atlas_rgb[r0 : r0 + big, c0 : c0 + big], (k, k))
        out[s0 : s0 + n, t0 : t0 + n] = tile[np.ix_(idx, idx)]
    return out


class _Atlases:
    """Ground-truth atlases per person at tile size n, read once each: (RGB, scored texels or
    None for all) or None when missing. An RGBA PNG (``studio.observed``) scores only the texels
    its alpha marks as observed, and must already be at tile size n."""

    def __init__(self, folder: str | None, n: int) -> None:
        self.folder, self.n, self.cache = folder, n, {}

    def get(self, person_id: str) -> tuple[np.ndarray, np.ndarray | None] | None:
        if self.folder is None or not person_id:
            return None
        if person_id not in self.cache:
            url = storage.join(self.folder, f"{person_id}.png")
            self.cache[person_id] = self._read(url) if storage.exists(url) else None
        return self.cache[person_id]

    def _read(self, url: str) -> tuple[np.ndarray, np.ndarray | None]:
        raw = cv2.imdecode(np.frombuffer(storage.read_bytes(url), np.uint8), cv2.IMREAD_UNCHANGED)
        if raw is None or raw.ndim != 3:
            raise ValueError(f"{url}: not a colour PNG atlas")
        rgb = np.ascontiguousarray(raw[..., 2::-1])
        if raw.shape[2] == 3:
            return resample_atlas(rgb, self.n), None
        if raw.shape[:2] != atlas_shape(self.n):
            raise ValueError(f"{url}: an observed (RGBA) atlas must have n={self.n} tiles")
        return rgb, raw[..., 3] > 0


def studio_atlases_url(root_url: str, dataset: str) -> str | None:
    """``OUT/atlases`` of the studio folder a data set was sharded from, if it exists."""
    table = read_dataset_manifest(root_url, dataset, ["source"]).slice(0, 1)
    source = table.column("source")[0].as_py() if table.num_rows else None
    if not source or "/images/" not in source:
        return None
    url = source.rsplit("/images/", 1)[0] + "/atlases"
    return url if storage.exists(url) else None


def _to_u8(images: torch.Tensor) -> torch.Tensor:
    """Decoded images (uint8 / 127.5 - 1) back to their exact uint8 values."""
    return ((images.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


def _to_unit(images_bchw: torch.Tensor) -> torch.Tensor:
    return _to_u8(images_bchw).float() / 255.0


def _to_u8_hw3(image_3hw: torch.Tensor) -> np.ndarray:
    return _to_u8(image_3hw).permute(1, 2, 0).numpy()


def _decode_png(data: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("corrupt PNG member in the render shard")
    return np.ascontiguousarray(bgr[..., ::-1])


def _cell(value: object) -> float | None:
    if isinstance(value, str) or value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class _Case:
    """One rendered sample with its decoded inputs; ``target`` is None without ground truth."""

    meta: dict
    rendered: dict
    source: Sample
    target: Sample | None
    target_iuv: torch.Tensor


def _sample(key: str, images: dict, iuvs: dict, size: int, n: int) -> Sample | None:
    if key not in images or key not in iuvs:
        return None
    return decode_sample(key, {**images[key], "iuv.png": iuvs[key]["iuv.png"]}, size, n)


def _cases(render_url: str, info: dict) -> Iterator[_Case]:
    """Every rendered sample of the set, shard by shard, with its decoded inputs."""
    sources, bank = render.input_indexes(render.RenderJob(**_job_fields(info)))
    size, n = info["image_size"], info["atlas_n"]
    for url in shards.shard_urls(render_url):
        table = shards.read_manifest(shards.shard_manifest_url(url))
        manifest = {r["key"]: r for r in table.to_pylist()}
        src_keys = set(table.column("source_key").to_pylist())
        tgt_keys = set(table.column("target_key").to_pylist())
        gt_keys = tgt_keys if bank is sources else set()
        images = render.fetch_members(sources.images, src_keys | gt_keys)
        iuvs = render.fetch_members(sources.iuvs, src_keys | gt_keys)
        target_iuvs = iuvs if bank is sources else render.fetch_members(bank.iuvs, tgt_keys)

        for rendered in shards.iter_shard(url):
            row = manifest[str(rendered["__key__"])]
            s, t = row["source_key"], row["target_key"]
            source = _sample(s, images, iuvs, size, n)
            if source is None or t not in target_iuvs:
                logger.warning("%s: inputs of %s are gone: not scored", url, row["key"])
                continue
            same_person = t in gt_keys and sources.person.get(t) == row["person_id"]
            target = _sample(t, images, iuvs, size, n) if same_person else None
            target_iuv = render.decode_target_iuv(t, target_iuvs[t]["iuv.png"], size)
            meta = {c: row[c] for c in ("key", "source_key", "target_key", "person_id")}
            yield _Case(meta, rendered, source, target, target_iuv)


def _job_fields(info: dict) -> dict:
    fields = ("root_url", "checkpoint", "name", "run", "dataset", "iuv_source", "pose_bank",
              "pose_bank_source")  # fmt: skip
    return {k: info[k] for k in fields}


def _batches(cases: Iterator[_Case], size: int) -> Iterator[list[_Case]]:
    batch: list[_Case] = []
    for case in cases:
        batch.append(case)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Scorer:
    """Metric rows of batches of cases; ``notes`` collects why a metric is not computed."""

    def __init__(self, info: dict, options: EvalOptions, atlases: _Atlases) -> None:
        self.n, self.atlases = info["atlas_n"], atlases
        self.lpips = load_lpips(options.weights)
        self.notes: dict[str, str] = {}

    def image_rows(self, cases: list[_Case]) -> list[dict]:
        cases = [c for c in cases if c.target is not None]
        if not cases:
            return []
        target_unit = _to_unit(torch.stack([c.target.image for c in cases]))
        iuv = torch.stack([c.target.iuv for c in cases])
        mask = torch.stack([c.target.mask for c in cases])
        rows = []
        for branch, ext in IMAGE_BRANCHES.items():
            if ext not in cases[0].rendered:
                continue
            pred = torch.from_numpy(np.stack([_decode_png(c.rendered[ext]) for c in cases]))
            pred_unit = pred.permute(0, 3, 1, 2).float() / 255.0
            cells = compute_image_metrics_batch(
                pred_unit, target_unit, mask, lpips_model=self.lpips
            )
            regions = region_metrics(pred_unit, target_unit, iuv, mask)
            parts = part_l1(pred_unit, target_unit, iuv).tolist()
            for b, case in enumerate(cases):
                row = {**case.meta, "branch": branch}
                for name, value in cells[b].items():
                    row[name] = _cell(value)
                    if isinstance(value, str):
                        self.notes.setdefault(name, value)
                row |= {k: _cell(v[b]) for k, v in regions.items()}
                row |= {c: _cell(v) for c, v in zip(PART_COLUMNS, parts[b], strict=True)}
                rows.append(row)
        return rows

    def texture_rows(self, cases: list[_Case]) -> list[dict]:
        rows = []
        for case in cases:
            truth = self.atlases.get(case.meta["person_id"])
            if "tex.png" not in case.rendered or truth is None:
                continue
            gt, scored = truth
            iuv_hw3 = case.source.iuv.permute(1, 2, 0).numpy()
            partial, seen = scatter(_to_u8_hw3(case.source.image), iuv_hw3, self.n)
            fills = (
                _decode_png(case.rendered["tex.png"]),
                mean_part_colour_fill(partial, seen, self.n),
                nearest_visible_fill(partial, seen, self.n),
                mirrored_part_fill(partial, seen, self.n),
                push_pull_fill(partial, seen, self.n),
                strip_fill(partial, seen, self.n),
            )
            for branch, atlas in zip(TEXTURE_BRANCHES, fills, strict=True):
                try:
                    error = texture_completion_error(atlas, gt, seen, scored)
                except ValueError:  # the source saw every texel: nothing to score
                    error = None
                parts = texture_error_by_part(atlas, gt, seen, self.n, scored).tolist()
                row = {**case.meta, "branch": branch, "texture_error": error}
                rows.append(row | {c: _cell(v) for c, v in zip(PART_COLUMNS, parts, strict=True)})
        return rows


def _grid_row(case: _Case) -> dict:
    """PNG bytes of the report's grid columns for one case (None where absent)."""
    target = (
        _to_u8_hw3(case.target.image) if case.target is not None else iuv_to_rgb(case.target_iuv)
    )
    row = {"key": case.meta["key"], "source": render.png_rgb(_to_u8_hw3(case.source.image)),
           "target": render.png_rgb(target), "target_is_iuv": case.target is None}  # fmt: skip
    for column, ext in report.GRID_MEMBERS.items():
        row[column] = case.rendered.get(ext)
    return row


def summarize(rows: list[dict]) -> list[dict]:
    """Mean of every metric column per branch (nulls left out), with the image count."""
    out = []
    for branch in (*IMAGE_BRANCHES, *TEXTURE_BRANCHES):
        mine = [r for r in rows if r["branch"] == branch]
        if not mine:
            continue
        summary: dict = {"branch": branch, "images": len(mine)}
        for column in METRIC_COLUMNS:
            values = [r[column] for r in mine if r.get(column) is not None]
            summary[column] = float(np.mean(values)) if values else None
        out.append(summary)
    return out


def _write_table(url: str, rows: list[dict], columns: tuple[str, ...]) -> None:
    types = {c: pa.string() for c in ID_COLUMNS} | {"images": pa.int64()}
    schema = pa.schema([(c, types.get(c, pa.float64())) for c in columns])
    table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows], schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    storage.write_bytes(url, buffer.getvalue())


def evaluate_renders(render_url: str, options: EvalOptions | None = None) -> EvalResult:
    """Score the render set at ``render_url`` and write metrics, summary and report."""
    options = options or EvalOptions()
    info = render.read_render_info(render_url)
    atlases_url = options.atlases_url or studio_atlases_url(info["root_url"], info["dataset"])
    scorer = _Scorer(info, options, _Atlases(atlases_url, info["atlas_n"]))
    rows, grid = [], []
    for batch in _batches(_cases(render_url, info), options.batch_size):
        rows += scorer.image_rows(batch) + scorer.texture_rows(batch)
        grid += [_grid_row(c) for c in batch[: max(options.grid - len(grid), 0)]]
    if atlases_url is None:
        scorer.notes["texture_error"] = "not computed: no ground-truth atlases (atlases_url)"
    summary = summarize(rows)
    folder = storage.join(render_url, "eval")
    urls = {n: storage.join(folder, f) for n, f in
            (("metrics", "metrics.parquet"), ("summary", "summary.parquet"),
             ("report", "report.html"), ("sheet", "contact_sheet.png"))}  # fmt: skip
    _write_table(urls["metrics"], rows, (*ID_COLUMNS, *METRIC_COLUMNS))
    _write_table(urls["summary"], summary, ("branch", "images", *METRIC_COLUMNS))
    run_url = storage.join(info["root_url"], "runs", info["run"])
    curves, losses = report.training_curves(run_url), report.losses_line(run_url)
    if grid:
        storage.write_bytes(urls["sheet"], contact_sheet_png(grid))
    html = report.build_report(info, summary, scorer.notes, grid, curves, losses)
    storage.write_bytes(urls["report"], html.encode("utf-8"))
    images = len({r["key"] for r in rows})
    logger.info("eval %s: %d images scored; report %s", render_url, images, urls["report"])
    sheet = urls["sheet"] if grid else None
    return EvalResult(
        render_url, urls["metrics"], urls["summary"], urls["report"], summary, images, sheet
    )


def evaluate(
    url: str, options: EvalOptions | None = None, limit: int | None = 64, device: str = "cpu"
) -> list[EvalResult]:
    """Evaluate a render set, every set of a ``renders/RUN`` folder, or a run folder.

    A run folder ``ROOT/runs/RUN`` has its test pairs rendered first (at most ``limit``, every
    branch, into ``ROOT/renders/RUN/test``; resumable), then scored.
    """
    if storage.exists(storage.join(url, "render.json")):
        return [evaluate_renders(url, options)]
    if storage.exists(storage.join(url, "checkpoints")):
        return [evaluate_renders(render_run_tests(url, limit, device), options)]
    sets = [u for u in storage.ls(url) if storage.exists(storage.join(u, "render.json"))] if (
        storage.exists(url)) else []  # fmt: skip
    if not sets:
        raise FileNotFoundError(
            f"url: {url} is not a render set (render.json), a renders/RUN folder or a run "
            "folder (checkpoints/)"
        )
    return [evaluate_renders(u, options) for u in sets]


def render_run_tests(run_url: str, limit: int | None = 64, device: str = "cpu") -> str:
    """Render the test pairs of the run's data set with every branch; the render set's URL."""
    head, _, run = run_url.rstrip("/").rpartition("/")
    if not head.endswith("/runs") and head != "runs":
        raise ValueError(f"run_url: expected ROOT/runs/RUN, got {run_url!r}")
    root = head[: -len("/runs")] if head.endswith("/runs") else "."
    config = yaml.safe_load(storage.read_bytes(storage.join(run_url, "config.yaml")))
    job = render.RenderJob(
        root, run_url, "test", run=run, dataset=config["dataset"],
        iuv_source=config["iuv_source"], branches=tuple(render.BRANCHES), device=device,
    )  # fmt: skip
    render.render_pairs(job, "test", limit)
    return job.url
