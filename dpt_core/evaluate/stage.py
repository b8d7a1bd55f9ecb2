"""The eval stage's work: score every rendered sample of a render set, write the metrics, the
summary and the report."""

from __future__ import annotations

import io
import logging

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from dpt_core import render, storage
from dpt_core.data import shards
from dpt_core.evaluate import report
from dpt_core.evaluate.cases import _grid_row, _Scorer, rendered_cases
from dpt_core.evaluate.contact_sheet import contact_sheet_png
from dpt_core.evaluate.scores import (
    ID_COLUMNS,
    IMAGE_BRANCHES,
    METRIC_COLUMNS,
    TEXTURE_BRANCHES,
    EvalOptions,
    EvalResult,
    _Atlases,
    studio_atlases_url,
)

logger = logging.getLogger(__name__)


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
    for batch in shards.batched(rendered_cases(render_url, info), options.batch_size):
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
