"""Flow ``train``: the three training stages of Dense Pose Transfer on one worker."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.params import DatasetName, RunName, StorageUrl
from tasks.artifacts import publish_link
from tasks.train import train_task

FLOW_NAME = "train"


@flow(name=FLOW_NAME)
def train_flow(
    config: StorageUrl = "configs/train/demo.yaml",
    root: StorageUrl | None = None,
    dataset: DatasetName | None = None,
    run: RunName | None = None,
    overrides: list[str] | None = None,
) -> dict:
    """Train from ``config`` (a YAML file); ``root``, ``dataset`` and ``run`` override its
    fields, then ``overrides`` (``a.b=value``). Resumes the run's latest checkpoint.
    Returns the run: run_url, step, checkpoint, metrics_url, losses."""
    logger = get_run_logger()
    named = {"root": root, "dataset": dataset, "run": run}
    layers = [f"{k}={v}" for k, v in named.items() if v is not None] + list(overrides or [])
    logger.info("train: config %s, overrides %s", config, layers)
    result = train_task(config, layers)
    run_name = result["run_url"].rstrip("/").rsplit("/", 1)[-1]
    publish_link(f"train-{run_name}", result["run_url"], f"training run {run_name}")
    logger.info("train: step %d, checkpoint %s", result["step"], result["checkpoint"])
    return result
