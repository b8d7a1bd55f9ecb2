"""Task of the train stage: resolve the layered config, train (resuming), return the run."""

from __future__ import annotations

from dataclasses import asdict

from dpt_core.train import load_config, train
from tasks.policy import TAG_GPU, storage_task

__all__ = ["train_task"]


@storage_task(name="train", tags=[TAG_GPU], retries=1)
def train_task(config_path: str, overrides: list[str]) -> dict:
    """Train as ``config_path`` + ``overrides`` say; a retry resumes from the last checkpoint.

    Returns the ``TrainResult`` fields (run_url, step, checkpoint, metrics_url, losses, ...).
    FileNotFoundError / ValueError name a missing input or a bad config field.
    """
    config = load_config(config_path, overrides)
    return asdict(train(config))
