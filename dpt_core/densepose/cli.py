"""Command-line entry points: ``dpt extract``, ``dpt densepose configs`` and ``dpt densepose show``
(registered by the lead).

Errors a user can fix (missing files, bad options) end the command with one ``error:`` line.
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import Annotated

import typer

from dpt_core import iuv, storage
from dpt_core.cli_errors import fail
from dpt_core.densepose.extractors import decode_image_rgb
from dpt_core.densepose.options import (
    DEFAULT_CONFIG,
    DEFAULT_DETECTIONS,
    DETECTION_PRESETS,
    OVERLAP_RULES,
    PERSON_MODES,
    SHIPPED_CONFIGS,
    SOURCES,
    ExtractOptions,
    detection_settings,
)
from dpt_core.densepose.stage import extract_dataset, extract_shard
from dpt_core.densepose.visualize import encode_png_rgb, panel, show_shard

logger = logging.getLogger(__name__)

densepose_app = typer.Typer(
    help="DensePose tools: list configs, inspect IUV outputs.", no_args_is_help=True
)


def split_dataset_url(dataset_url: str) -> tuple[str, str]:
    """``ROOT/datasets/NAME`` → (ROOT, NAME); ValueError naming the URL otherwise."""
    parts = dataset_url.rstrip("/").rsplit("/", 2)
    if len(parts) < 2 or parts[-2] != "datasets" or not parts[-1]:
        raise ValueError(f"DATASET_URL must look like ROOT/datasets/NAME, got {dataset_url!r}")
    root = parts[0] if len(parts) == 3 and parts[0] else "."
    return root, parts[-1]


def _check_choice(value: str, choices: tuple[str, ...], option: str) -> None:
    if value not in choices:
        raise ValueError(f"{option}: expected one of {', '.join(choices)}, got {value!r}")


_DETECTIONS_HELP = "Which detections are people, by name: " + "; ".join(
    f"{name} = score >= {p.score_threshold}, at most {p.max_people} per image, {p.about}"
    for name, p in DETECTION_PRESETS.items()
)
_OVERLAP_HELP = (
    "How people share a pixel with --people all: score = the higher detection score wins "
    "the whole body pixel (ours); detectron = Detectron's _IUV.png writer: people scoring "
    "> 0.65 only, in ascending score, each filling only I/U/V values still 0 (the "
    "lower-scoring person keeps an overlap). For Detectron-era files: --detections "
    "apply-net-dump --overlap detectron"
)

_BATCH_HELP = (
    "Images per forward pass; only same-size images share one (1 = exactly as apply_net, "
    "which runs one image at a time; larger batches differ only by float rounding of the "
    "convolution kernels)"
)


def _options(
    people: str, overlap: str, detections: str, score: float | None, most: int | None, **rest
) -> ExtractOptions:
    """Check the choices, resolve the detection preset (explicit values win) and log it."""
    _check_choice(rest["source"], SOURCES, "--source")
    _check_choice(people, PERSON_MODES, "--people")
    _check_choice(overlap, OVERLAP_RULES, "--overlap")
    _check_choice(detections, tuple(DETECTION_PRESETS), "--detections")
    score, most = detection_settings(detections, score, most)
    logger.info("people: score >= %s, at most %d per image", score, most)
    return ExtractOptions(
        mode=people,  # type: ignore[arg-type]
        overlap=overlap,  # type: ignore[arg-type]
        score_threshold=score,
        max_people=most,
        **rest,
    )


def extract(
    dataset_url: Annotated[str, typer.Argument(help="Dataset folder: ROOT/datasets/NAME")],
    source: Annotated[str, typer.Option(help=f"IUV source: {', '.join(SOURCES)}")] = "detectron2",
    weights: Annotated[
        str | None, typer.Option(help="DensePose R-CNN .pth/.pkl path or URL")
    ] = None,
    trust_pickle: Annotated[
        bool, typer.Option(help="Allow unpickling a model-zoo .pkl (only for files you trust)")
    ] = False,
    config: Annotated[
        str, typer.Option(help="Shipped config name (dpt densepose configs) or YAML path")
    ] = DEFAULT_CONFIG,
    device: Annotated[str, typer.Option(help="cpu, cuda[:N] or auto")] = "cpu",
    people: Annotated[str, typer.Option(help=f"Which people: {', '.join(PERSON_MODES)}")] = "all",
    overlap: Annotated[str, typer.Option(help=_OVERLAP_HELP)] = "score",
    batch_size: Annotated[int, typer.Option(help=_BATCH_HELP)] = 8,
    detections: Annotated[str, typer.Option(help=_DETECTIONS_HELP)] = DEFAULT_DETECTIONS,
    score_threshold: Annotated[
        float | None, typer.Option(help="Minimum detection score (overrides --detections)")
    ] = None,
    max_people: Annotated[
        int | None, typer.Option(help="Detections kept per image (overrides --detections)")
    ] = None,
    min_size: Annotated[
        int | None, typer.Option(help="Shorter side for inference (0 = native size)")
    ] = None,
    precomputed: Annotated[
        str | None, typer.Option(help="Folder of KEY.iuv.png / KEY_IUV.png files")
    ] = None,
    shard: Annotated[list[int] | None, typer.Option(help="Only these shard indices")] = None,
) -> None:
    """Extract IUV shards for a dataset: ROOT/densepose/NAME/SOURCE/NAME-NNNNN.tar + .parquet."""
    try:
        options = _options(
            people, overlap, detections, score_threshold, max_people,
            source=source, config=config, weights=weights, allow_pickle=trust_pickle,
            device=device, batch_size=batch_size, min_size=min_size, precomputed_url=precomputed,
        )  # fmt: skip
        root, name = split_dataset_url(dataset_url)
        if shard:
            summaries = [extract_shard(root, name, i, options) for i in shard]
        else:
            summaries = extract_dataset(root, name, options)
    except (FileNotFoundError, ValueError, RuntimeError, OSError) as exc:
        raise fail(exc) from None
    done = sum(s.get("count", 0) for s in summaries)
    failed = sum(s.get("failures", 0) for s in summaries)
    skipped = sum(bool(s["skipped"]) for s in summaries)
    typer.echo(
        f"{len(summaries)} shards ({skipped} up to date): {done} IUV images, {failed} failures"
    )


@densepose_app.command("configs")
def configs() -> None:
    """List the shipped DensePose R-CNN configs: every chart model of detectron2's model zoo."""
    for name, about in SHIPPED_CONFIGS.items():
        typer.echo(f"{name:38s} {about}")


@densepose_app.command("show")
def show(
    iuv_url: Annotated[str, typer.Argument(help="IUV shard (.tar) or one IUV PNG")],
    out: Annotated[str, typer.Option(help="Output folder (or .png file for one IUV)")] = "out",
    images: Annotated[
        str | None, typer.Option(help="Dataset shard (for a .tar) or photo (for a PNG)")
    ] = None,
    limit: Annotated[int, typer.Option(help="Samples to draw from a shard")] = 16,
) -> None:
    """Draw PNG overlays: photo | coloured body parts | U/V contours."""
    try:
        if iuv_url.endswith(".tar"):
            written = show_shard(iuv_url, out, images, limit)
        else:
            written = [_show_one(iuv_url, out, images)]
    except (FileNotFoundError, ValueError) as exc:
        raise fail(exc) from None
    typer.echo(f"wrote {len(written)} overlay(s) under {out}")


def _show_one(iuv_url: str, out: str, image_url: str | None) -> str:
    iuv_hw3 = iuv.read_iuv(iuv_url)
    image = decode_image_rgb(storage.read_bytes(image_url)) if image_url else None
    if image is not None and image.shape != iuv_hw3.shape:
        raise ValueError(f"--images: {image_url} is {image.shape}, IUV is {iuv_hw3.shape}")
    if not out.endswith(".png"):
        out = storage.join(out, PurePosixPath(iuv_url).stem.split(".")[0] + ".png")
    storage.write_bytes(out, encode_png_rgb(panel(image, iuv_hw3)))
    return out
