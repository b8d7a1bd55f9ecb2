"""Flow ``evaluate``: metrics of a render set against ground truth, and the HTML report."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from dpt_core.evaluate import EvalOptions
from dpt_core.metrics import MetricWeights
from flows.params import PositiveInt, StorageUrl
from tasks.artifacts import artifact_key, publish_link
from tasks.evaluate import evaluate_task

FLOW_NAME = "evaluate"
SUMMARY_COLUMNS = ("branch", "images", "l1", "ssim", "psnr", "lpips", "texture_error")


@flow(name=FLOW_NAME)
def evaluate_flow(
    render_url: StorageUrl,
    atlases_url: StorageUrl | None = None,
    lpips_linear: StorageUrl | None = None,
    lpips_backbone: StorageUrl | None = None,
    grid: PositiveInt = 8,
    batch_size: PositiveInt = 16,
) -> dict:
    """Score the render set at ``render_url`` (``renders/RUN/NAME``): ``atlases_url`` holds
    the full ground-truth atlases (default: the studio's), ``lpips_*`` the LPIPS weights.
    Returns the summary per branch and ``report_url``."""
    logger = get_run_logger()
    weights = MetricWeights(lpips_linear=lpips_linear, lpips_backbone=lpips_backbone)
    options = EvalOptions(atlases_url, weights, grid, batch_size)
    result = evaluate_task(render_url, options)
    table = [{c: row.get(c) for c in SUMMARY_COLUMNS} for row in result.summary]
    key = artifact_key("evaluate", *render_url.rstrip("/").rsplit("/", 2)[-2:])
    create_table_artifact(table, key=key, description=f"metrics per branch, {result.images} images")
    publish_link(f"{key}-report", result.report_url, "evaluation report (HTML)")
    logger.info("evaluate: %d images scored; report at %s", result.images, result.report_url)
    return asdict(result)
