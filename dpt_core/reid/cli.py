"""Command-line function of the re-id augmentation: ``dpt reid-augment``.

A plain function with typer annotations; ``dpt_core.cli`` registers it on the app.
"""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dpt_core.cli_errors import fail
from dpt_core.densepose.options import DEFAULT_CONFIG, SOURCES
from dpt_core.reid.config import AugmentConfig
from dpt_core.reid.stage import AugmentSummary, augment_reid

console = Console(soft_wrap=True)


def parse_hw(text: str) -> tuple[int, int]:
    """``"128x64"`` -> (128, 64) (height × width); BadParameter otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", text)
    if match is None:
        raise typer.BadParameter(f"--size: expected HEIGHTxWIDTH such as 128x64, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def _print(summary: AugmentSummary, per_identity: int) -> None:
    console.print(
        f"{summary.dst}: {summary.generated} generated images of {summary.identities} "
        f"identities ({per_identity} each) in {summary.shards} identity shards "
        f"({summary.skipped_shards} already done); originals {summary.originals}"
    )
    console.print(f"manifest: {summary.manifest_url}")
    for reason, count in summary.failures.items():
        console.print(f"  failures {reason}: {count}")


def reid_augment(
    src: Annotated[str, typer.Argument(help="Market-1501 folder, or ROOT/datasets/NAME.")],
    dst: Annotated[str, typer.Argument(help="Market-1501 folder to write.")],
    pose_bank: Annotated[
        str, typer.Option(help="Target poses: ROOT/densepose/NAME/SOURCE or a studio folder.")
    ],
    checkpoint: Annotated[
        str | None, typer.Option(help="Trained generator: a .pt file or a run folder.")
    ] = None,
    per_identity: Annotated[int, typer.Option(min=1, help="K images per identity.")] = 4,
    work: Annotated[str | None, typer.Option(help="Work root (default DST/_work).")] = None,
    name: Annotated[str | None, typer.Option(help="Job name (default reid-DATASET).")] = None,
    iuv_source: Annotated[
        str, typer.Option(help=f"IUV of the sources: {', '.join(SOURCES)}.")
    ] = "detectron2",
    weights: Annotated[str | None, typer.Option(help="DensePose R-CNN .pth/.pkl.")] = None,
    trust_pickle: Annotated[bool, typer.Option(help="Allow a model-zoo .pkl.")] = False,
    densepose_config: Annotated[str, typer.Option(help="DensePose config.")] = DEFAULT_CONFIG,
    precomputed: Annotated[
        str | None, typer.Option(help="Folder of STEM.iuv.png / STEM_IUV.png files.")
    ] = None,
    sources_per_identity: Annotated[int, typer.Option(min=1)] = 3,
    identities_per_shard: Annotated[int, typer.Option(min=1)] = 64,
    seed: Annotated[int, typer.Option(help="Seed of the pose draws.")] = 0,
    size: Annotated[str, typer.Option(help="Output HEIGHTxWIDTH.")] = "128x64",
    margin: Annotated[float, typer.Option(min=0.0, help="Crop margin around the body.")] = 0.1,
    jpeg_quality: Annotated[int, typer.Option(min=1, max=100)] = 95,
    batch_size: Annotated[int, typer.Option(min=1)] = 8,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
) -> None:
    """Render every training identity of SRC in K poses of the pose bank; write DST in
    Market-1501 layout (generated: PPPP_cCs9_JJJJJJ_01.jpg) with augment_manifest.parquet."""
    try:
        config = AugmentConfig(
            src, dst, pose_bank, checkpoint, per_identity, work=work, name=name,
            iuv_source=iuv_source, weights=weights, precomputed_url=precomputed,
            densepose_config=densepose_config, allow_pickle=trust_pickle,
            sources_per_identity=sources_per_identity, identities_per_shard=identities_per_shard,
            seed=seed, size=parse_hw(size), margin=margin, jpeg_quality=jpeg_quality,
            batch_size=batch_size, device=device,
        )  # fmt: skip
        columns = (TextColumn("identity shards"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())  # fmt: skip
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("augment", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            summary = augment_reid(config, progress)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        raise fail(exc) from exc
    _print(summary, per_identity)
