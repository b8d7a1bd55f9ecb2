"""Command-line function of the evaluate stage: ``dpt eval``.

Plain functions with typer annotations; ``dpt_core.cli`` registers them on the app.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dpt_core.cli_errors import fail
from dpt_core.evaluate.scores import EvalOptions, EvalResult
from dpt_core.evaluate.stage import evaluate
from dpt_core.metrics import MetricWeights

console = Console(soft_wrap=True)
_SHOWN = {"ssim": "SSIM", "psnr": "PSNR", "l1": "L1", "l1_body": "L1 body",
          "l1_outside": "L1 hair", "texture_error": "texture"}  # fmt: skip


def _print_eval(result: EvalResult) -> None:
    table = Table("branch", "n", *_SHOWN.values(), title=f"{result.render_url}")
    table.columns[0].no_wrap = True
    for row in result.summary:
        cells = [("-" if row.get(c) is None else f"{row[c]:.3f}") for c in _SHOWN]
        table.add_row(str(row["branch"]), str(row["images"]), *cells)
    console.print(table)
    console.print(f"metrics: {result.metrics_url}\nsummary: {result.summary_url}")
    console.print(f"report:  {result.report_url}")


def eval(
    url: Annotated[
        str, typer.Argument(help="A render set, ROOT/renders/RUN, or a run ROOT/runs/RUN.")
    ],
    atlases: Annotated[
        str | None, typer.Option(help="Folder of PERSON.png full atlases (default: studio's).")
    ] = None,
    lpips_linear: Annotated[str | None, typer.Option(help="LPIPS v0.1 alex.pth/vgg.pth.")] = None,
    lpips_backbone: Annotated[
        str | None, typer.Option(help="torchvision alexnet/vgg16 ImageNet weights.")
    ] = None,
    lpips_net: Annotated[str, typer.Option(help="alex or vgg.")] = "alex",
    grid: Annotated[int, typer.Option(min=0, help="Samples shown in the report.")] = 8,
    limit: Annotated[int, typer.Option(min=1, help="Run URL: test pairs to render.")] = 64,
    device: Annotated[str, typer.Option(help="Run URL: device to render on.")] = "cpu",
) -> None:
    """Score renders against ground truth; write metrics.parquet, summary.parquet, report.html."""
    weights = MetricWeights(
        lpips_linear=lpips_linear, lpips_backbone=lpips_backbone, lpips_net=lpips_net
    )
    try:
        results = evaluate(url, EvalOptions(atlases, weights, grid), limit, device)
    except (ValueError, FileNotFoundError) as exc:
        raise fail(exc) from exc
    for result in results:
        _print_eval(result)
