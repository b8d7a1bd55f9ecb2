"""``dpt studio``: generate a synthetic data set, or preview what the studio makes."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from dpt_core.studio.preview import write_preview
from dpt_core.studio.stage import generate_dataset

app = typer.Typer(
    help="Synthetic people with exact ground truth: RGB, IUV, mask, depth and full texture.",
    no_args_is_help=True,
)


@app.command()
def generate(
    out: str = typer.Option(..., "--out", help="Output folder or fsspec URL (s3://, memory://)."),
    identities: int = typer.Option(8, "--identities", min=1, help="Number of people."),
    poses: int = typer.Option(4, "--poses", min=1, help="Poses per person."),
    views: int = typer.Option(4, "--views", min=1, help="Camera views per pose (360° of yaw)."),
    size: int = typer.Option(256, "--size", min=8, help="Image height and width in pixels."),
    seed: int = typer.Option(0, "--seed", help="Same seed, byte-identical data set."),
    background: bool = typer.Option(
        True, "--background/--no-background", help="Textured backgrounds, or black."
    ),
    lit: bool = typer.Option(True, "--lit/--unlit", help="Shaded, or raw atlas colours."),
    scenes: str = typer.Option(
        "shoot",
        "--scenes",
        help="shoot: one background and light per person (a photo shoot); random: per sample.",
    ),
    clothing: str = typer.Option(
        "beneath",
        "--clothing",
        help="beneath: hair/clothes pixels get the IUV of the body behind them (as DensePose "
        "labels them); none: I = 0 on every hair and clothes pixel.",
    ),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Samples rendered at once."),
    workers: int = typer.Option(1, "--workers", min=1, help="Rendering processes."),
) -> None:
    """Render identities × poses × views samples with a manifest (the data plane's layout)."""
    total = identities * poses * views
    columns = (TextColumn("studio"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("render", total=total)
        summary = generate_dataset(
            out, identities, poses, views, size=size, seed=seed, background=background, lit=lit,
            batch_size=batch_size, workers=workers, scenes=scenes,
            clothing=clothing, progress=lambda n: bar.update(task, completed=n),
        )  # fmt: skip
    typer.echo(json.dumps(summary, indent=2))


@app.command()
def preview(
    out: str = typer.Option("studio_preview.png", "--out", help="PNG path or fsspec URL."),
    identities: int = typer.Option(3, "--identities", min=1),
    poses: int = typer.Option(2, "--poses", min=1),
    views: int = typer.Option(2, "--views", min=1),
    size: int = typer.Option(128, "--size", min=8),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Write a contact sheet: RGB, coloured IUV, mask, depth and atlas, one row per sample."""
    typer.echo(write_preview(out, identities, poses, views, size, seed))
