"""Command-line function of the render-batch stage: ``dpt render``.

Plain functions with typer annotations; ``dpt_core.cli`` registers them on the app.
"""

from __future__ import annotations

from typing import Annotated

import pyarrow as pa
import pyarrow.csv as pacsv
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dpt_core import storage
from dpt_core.cli_errors import fail
from dpt_core.data.shards import read_manifest
from dpt_core.render import (
    BRANCHES,
    RenderJob,
    RenderSummary,
    pose_bank_requests,
    render_pairs,
    render_requests,
)

console = Console(soft_wrap=True)


def parse_branches(text: str) -> tuple[str, ...]:
    """``"pred,warp"`` / ``"all"`` / ``""`` -> branch names; BadParameter on unknown names."""
    names = [b.strip() for b in text.split(",") if b.strip()]
    if names == ["all"]:
        return tuple(BRANCHES)
    unknown = sorted(set(names) - set(BRANCHES))
    if unknown:
        raise typer.BadParameter(f"--branches: unknown {unknown}; use all or {sorted(BRANCHES)}")
    return tuple(names)


def read_requests_file(url: str) -> pa.Table:
    """A ``.parquet`` or ``.csv`` table with ``source_key`` and ``target_key`` columns."""
    if url.endswith(".csv"):
        return pacsv.read_csv(pa.BufferReader(storage.read_bytes(url)))
    if url.endswith(".parquet"):
        return read_manifest(url)
    raise ValueError(f"--requests: expected a .parquet or .csv file, got {url!r}")


def _print_render(summary: RenderSummary) -> None:
    console.print(
        f"{summary.url}: {summary.samples} renders in {summary.shards} shards "
        f"({summary.rendered} rendered, {summary.skipped} already committed), "
        f"{summary.failures} failures"
    )


def render(
    checkpoint: Annotated[str, typer.Argument(help="Checkpoint .pt URL, or a run folder.")],
    root: Annotated[str, typer.Argument(help="Storage root URL (datasets/, densepose/, ...).")],
    name: Annotated[str, typer.Option(help="Render set name: ROOT/renders/RUN/NAME.")] = "test",
    run: Annotated[str | None, typer.Option(help="RUN (default: from the checkpoint)")] = None,
    split: Annotated[str, typer.Option(help="Pairs split to render (no --requests).")] = "test",
    requests: Annotated[
        str | None, typer.Option(help="A .parquet/.csv of source_key,target_key to render.")
    ] = None,
    dataset: Annotated[str, typer.Option(help="Data set of the sources.")] = "studio",
    iuv_source: Annotated[str, typer.Option(help="IUV source of the data set.")] = "studio",
    pose_bank: Annotated[
        str | None, typer.Option(help="Data set whose IUVs give the target poses.")
    ] = None,
    pose_bank_source: Annotated[str | None, typer.Option(help="Its IUV source.")] = None,
    poses_per_source: Annotated[
        int, typer.Option(min=1, help="With --pose-bank and no --requests: poses per source.")
    ] = 4,
    branches: Annotated[str, typer.Option(help="Extra outputs: pred,warp,tex or all.")] = "",
    limit: Annotated[int | None, typer.Option(min=1, help="Pairs to render at most.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 8,
    shard_size: Annotated[int, typer.Option(min=1, help="Renders per output shard.")] = 256,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
) -> None:
    """Render pairs or pose requests with a trained generator (resumable, deterministic)."""
    try:
        job = RenderJob(
            root, checkpoint, name, run, dataset, iuv_source, pose_bank, pose_bank_source,
            parse_branches(branches), batch_size, shard_size, device,
        )  # fmt: skip
        columns = (TextColumn("render"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("render", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if requests is not None:
                summary = render_requests(job, read_requests_file(requests), progress)
            elif pose_bank is not None:
                wanted = pose_bank_requests(job, split, poses_per_source)
                summary = render_requests(job, wanted, progress)
            else:
                summary = render_pairs(job, split, limit, progress)
    except (ValueError, FileNotFoundError) as exc:
        raise fail(exc) from exc
    _print_render(summary)
