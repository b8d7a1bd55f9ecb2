"""Command-line functions of the data plane: ``dpt shard``, ``dpt pairs``, ``dpt ls``.

Plain functions with typer annotations; ``dpt_core.cli`` registers them on the app.
"""

from __future__ import annotations

import os
import re
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dpt_core import storage
from dpt_core.cli_errors import fail
from dpt_core.data.images import FITS, NormalizeOptions
from dpt_core.data.layouts import LAYOUTS, get_layout
from dpt_core.data.manifest import (
    describe_dataset,
    list_datasets,
    read_dataset_stats,
    shards_folder,
    split_dataset_url,
)
from dpt_core.data.pairs import PairsSummary, import_patn_pairs, make_pairs
from dpt_core.data.stage import (
    DatasetPlan,
    DatasetSummary,
    ShardConfig,
    ShardResult,
    finalize_dataset,
    plan_shards,
    release_plan,
    run_shards,
)

console = Console(soft_wrap=True)
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20,
          "GIB": 2**30}  # fmt: skip


def parse_bytes(text: str) -> int:
    """``"500MB" -> 500_000_000``; plain integers are bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", text)
    if match is None or match.group(2).upper() not in _UNITS or int(match.group(1)) < 1:
        raise typer.BadParameter(f"expected a size like 500MB or 1GiB, got {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def parse_size(text: str, layout_default: tuple[int, int] | None) -> tuple[int, int] | None:
    """``auto`` (the layout's default), ``none``, ``256`` or ``HEIGHTxWIDTH`` -> (h, w) | None."""
    text = text.strip().lower()
    if text == "auto":
        return layout_default
    if text in ("none", "0", "off"):
        return None
    match = re.fullmatch(r"(\d+)(?:x(\d+))?", text)
    if match is None or int(match.group(1)) < 1:
        raise typer.BadParameter(f"--size: expected auto, none, 256 or 256x176, got {text!r}")
    height = int(match.group(1))
    return height, int(match.group(2) or height)


def _print_shard_summary(summary: DatasetSummary) -> None:
    console.print(
        f"[bold]{summary.dataset}[/bold]: {summary.written} written in {summary.shards} shards "
        f"({summary.nbytes / 1e6:.1f} MB, {summary.skipped_shards} already committed), "
        f"{summary.rejected} rejected"
    )
    for reason, count in summary.by_reason.items():
        console.print(f"  rejected {reason}: {count}")
    console.print(f"stats: {summary.stats_url}")


def _run_with_progress(plan: DatasetPlan, workers: int, overwrite: bool) -> list[ShardResult]:
    columns = (TextColumn("shards"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[samples]} samples"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("shard", total=len(plan.shards), samples=0)

        def on_result(result: ShardResult) -> None:
            samples = progress.tasks[task].fields["samples"] + result.count
            progress.update(task, advance=1, samples=samples)

        return run_shards(plan, workers, overwrite, on_result)


def shard(
    src: Annotated[str, typer.Argument(help="Source folder or URL of the dataset.")],
    dst: Annotated[str, typer.Argument(help="Storage root URL, e.g. file:///data/dpt.")],
    layout: Annotated[str, typer.Option("--layout", help=f"One of: {', '.join(LAYOUTS)}.")],
    name: Annotated[
        str | None, typer.Option(help="Dataset name (default: SRC's basename).")
    ] = None,
    max_count: Annotated[int, typer.Option(min=1, help="Samples per shard at most.")] = 1000,
    max_bytes: Annotated[str, typer.Option(help="Source bytes per shard at most.")] = "1GB",
    size: Annotated[str, typer.Option(help="auto | none | 256 | HEIGHTxWIDTH.")] = "auto",
    fit: Annotated[str, typer.Option(help=f"Resize mode: {' | '.join(FITS)}.")] = "pad",
    workers: Annotated[int, typer.Option(min=1, help="Shard-writing processes.")] = min(
        8, os.cpu_count() or 1
    ),
    person_from_folder: Annotated[
        bool, typer.Option(help="image-folder: the first sub-folder is the person id.")
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Rewrite committed shards too.")] = False,
) -> None:
    """Shard a dataset into DST/datasets/NAME/shards/ (resumable; bad inputs are logged)."""
    try:
        options = {"person_from_folder": True} if person_from_folder else {}
        layout_obj = get_layout(layout, **options)
        normalize = NormalizeOptions(size=parse_size(size, layout_obj.default_size), fit=fit)
        config = ShardConfig(max_count, parse_bytes(max_bytes), normalize)
        console.print(f"layout {layout_obj.name}, size {normalize.size or 'as is'}, "
                      f"{workers} worker(s)")  # fmt: skip
        with console.status(f"scanning {src}"):
            plan = plan_shards(layout_obj, src, dst, name, config)
        try:
            results = _run_with_progress(plan, workers, overwrite)
            summary = finalize_dataset(plan, results)
        finally:
            release_plan(plan)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        raise fail(exc) from exc
    _print_shard_summary(summary)


def _print_pairs(summary: PairsSummary) -> None:
    for split, url in summary.urls.items():
        console.print(
            f"{split}: {summary.pairs[split]} pairs of {summary.persons[split]} persons -> {url}"
        )
    if summary.dropped:
        console.print(f"dropped {summary.dropped} pairs naming samples not in the dataset")


def pairs(
    dataset: Annotated[str, typer.Argument(help="DST_URL/NAME of a sharded dataset.")],
    test_fraction: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the person split and subsampling.")] = 0,
    max_per_person: Annotated[
        int | None, typer.Option(min=1, help="Pairs per person at most (default: all).")
    ] = None,
    patn: Annotated[
        str | None, typer.Option(help="Import PATN fasion-resize-pairs CSVs from this folder.")
    ] = None,
) -> None:
    """Write DST/pairs/NAME/{train,test}.parquet: same person, different image, split by person."""
    try:
        root, name = split_dataset_url(dataset)
        stats = read_dataset_stats(root, name) or {}
        if patn is None and stats.get("layout") == "patn-pairs":
            patn = stats["source"]
        if patn is not None:
            summary = import_patn_pairs(patn, root, name)
        else:
            summary = make_pairs(root, name, test_fraction, seed, max_per_person)
    except (ValueError, FileNotFoundError) as exc:
        raise fail(exc) from exc
    _print_pairs(summary)


def _datasets_at(url: str) -> tuple[str, list[str]]:
    if storage.exists(storage.join(url, "datasets")):
        return url, list_datasets(url)
    root, name = split_dataset_url(url)
    if storage.exists(shards_folder(root, name)):
        return root, [name]
    raise FileNotFoundError(
        f"no datasets at {url} (give DST_URL, DST_URL/NAME or .../datasets/NAME)"
    )


def ls(
    url: Annotated[str, typer.Argument(help="DST_URL, or DST_URL/NAME for one dataset.")],
) -> None:
    """List datasets: shards, samples, bytes and rejected inputs by reason."""
    try:
        root, names = _datasets_at(url)
        rows = [describe_dataset(root, name) for name in names]
    except (ValueError, FileNotFoundError) as exc:
        raise fail(exc) from exc
    table = Table("dataset", "layout", "shards", "samples", "MB", "rejected", "by reason")
    for row in rows:
        reasons = ", ".join(f"{r}: {n}" for r, n in row["by_reason"].items()) or "-"
        status = "" if row["complete"] else " (incomplete)"
        table.add_row(row["name"] + status, str(row["layout"] or "?"), str(row["shards"]),
                      str(row["samples"]), f"{row['bytes'] / 1e6:.1f}", str(row["rejected"]),
                      reasons)  # fmt: skip
    console.print(table)
