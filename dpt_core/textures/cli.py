"""Command-line function ``dpt textures`` of the precompute-textures stage (registered by
``dpt_core.cli``).

Errors a user can fix (missing files, bad options) end the command with one ``error:`` line.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dpt_core.atlas import DEFAULT_N
from dpt_core.cli_errors import fail
from dpt_core.data.manifest import split_dataset_url
from dpt_core.models.scales import get_scale
from dpt_core.textures.stage import precompute_textures, precompute_textures_shard


def textures(
    dataset_url: Annotated[str, typer.Argument(help="Dataset folder: ROOT/datasets/NAME")],
    n: Annotated[
        int | None, typer.Option(help=f"Texels per tile side (default {DEFAULT_N}, or --scale's)")
    ] = None,
    scale: Annotated[
        str | None, typer.Option(help="Use this model scale's atlas_n (tiny, demo, paper)")
    ] = None,
    source: Annotated[str, typer.Option(help="IUV source: densepose/NAME/SOURCE")] = "studio",
    shard: Annotated[int | None, typer.Option(help="Only this shard index")] = None,
    overwrite: Annotated[bool, typer.Option(help="Recompute committed shards too")] = False,
) -> None:
    """Scatter every image through its IUV into texture shards under ROOT/textures/NAME."""
    try:
        if n is not None and scale is not None:
            raise ValueError("give --n or --scale, not both")
        size = get_scale(scale).atlas_n if scale else (n or DEFAULT_N)
        root, name = split_dataset_url(dataset_url)
        if shard is not None:
            summaries = [precompute_textures_shard(root, name, shard, size, source, overwrite)]
        else:
            summaries = precompute_textures(root, name, size, source, overwrite)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(exc) from None
    done = [s for s in summaries if not s["skipped"]]
    typer.echo(
        f"{name}: {len(summaries)} shard(s), {len(done)} written, "
        f"{sum(s.get('count', 0) for s in summaries)} textures (n={size}), "
        f"{sum(s.get('failures', 0) for s in done)} new failures"
    )
