"""Command-line function ``dpt train`` (registered by ``dpt_core.cli``).

Errors a user can fix (missing files, bad options) end the command with one ``error:`` line.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dpt_core.cli_errors import fail


def train(
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="YAML config (default: demo on studio)")
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override KEY.PATH=VALUE (repeatable)")
    ] = None,
    stop_at: Annotated[
        int | None, typer.Option(min=1, help="Stop after this global step (checkpointed)")
    ] = None,
    nproc: Annotated[
        int, typer.Option(min=1, help="Local CPU processes (gloo); use torchrun for GPUs")
    ] = 1,
    show_config: Annotated[
        bool, typer.Option("--show-config", help="Print the resolved config and exit")
    ] = False,
    prepare_studio: Annotated[
        bool, typer.Option(help="First render and prepare a studio set at ROOT/…/DATASET")
    ] = False,
) -> None:
    """Train Dense Pose Transfer; writes ROOT/runs/RUN/ (config, checkpoints, metrics)."""
    from dpt_core.train.config import check_files, config_yaml, load_config
    from dpt_core.train.launch import run_local
    from dpt_core.train.prepare import prepare_studio as prepare
    from dpt_core.train.stage import train as run_training

    try:
        resolved = load_config(config, overrides or [], check=False)
        if show_config:
            typer.echo(config_yaml(resolved), nl=False)
            return
        if prepare_studio:
            scale = resolved.model_scale
            prepare(resolved.root, resolved.dataset, size=scale.image_size, atlas_n=scale.atlas_n)
        check_files(resolved)
        if nproc > 1:
            result = run_local(resolved, nproc, stop_at)[0]
        else:
            result = run_training(resolved, stop_at)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(exc) from None
    losses = {k: v for k, v in result.losses.items() if isinstance(v, float)}
    typer.echo(f"{resolved.run}: step {result.step} in {result.seconds:.1f} s")
    typer.echo(f"checkpoint: {result.checkpoint}")
    typer.echo(f"metrics: {result.metrics_url}")
    typer.echo("last: " + " ".join(f"{k}={v:.4g}" for k, v in losses.items()))
