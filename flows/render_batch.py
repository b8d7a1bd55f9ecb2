"""Flow ``render-batch``: a trained generator renders source persons in target poses."""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger, unmapped

from dpt_core.render import BRANCHES, RenderJob
from flows.params import DatasetName, PositiveInt, RunName, Split, StorageUrl
from flows.runners import collect, default_task_runner, log_runner
from tasks.artifacts import count_shards, failures_by_reason, publish_counts, publish_link
from tasks.policy import TAG_GPU
from tasks.render import RENDER_STAGE, plan_render_task, render_shard_task

FLOW_NAME = "render-batch"
RenderBranch = Literal[tuple(BRANCHES)]  # type: ignore[valid-type]


@flow(name=FLOW_NAME, task_runner=default_task_runner())
def render_batch_flow(
    root: StorageUrl,
    checkpoint: StorageUrl,
    name: DatasetName = "test-pairs",
    dataset: DatasetName = "studio",
    iuv_source: DatasetName = "studio",
    split: Split = "test",
    limit: PositiveInt | None = None,
    run: RunName | None = None,
    branches: list[RenderBranch] | None = None,
    batch_size: PositiveInt = 8,
    shard_size: PositiveInt = 256,
    device: str = "cpu",
) -> dict:
    """Render the ``split`` pairs of ``dataset`` (``limit`` of them) with ``checkpoint`` (a
    ``.pt`` or a run folder) into ``root/renders/RUN/NAME``, one task per output shard.
    Returns StageCounts plus ``url``, the render set's folder."""
    logger = get_run_logger()
    log_runner(logger, FLOW_NAME)
    job = RenderJob(
        root, checkpoint, name, run, dataset, iuv_source, branches=tuple(branches or ()),
        batch_size=batch_size, shard_size=shard_size, device=device,
    )  # fmt: skip
    info = plan_render_task(job, split, limit)
    render = render_shard_task
    if device.startswith("cuda"):
        render = render.with_options(tags=[*render.tags, TAG_GPU])
    futures = render.map(unmapped(job), range(info["shards"]))
    summaries = collect(futures, "render shards")
    failures = failures_by_reason(root, RENDER_STAGE, name)
    counts = count_shards(RENDER_STAGE, name, summaries, failures)
    publish_counts(counts, summaries)
    publish_link(f"render-{job.run}-{name}", job.url, f"render set {job.run}/{name}")
    logger.info("%s; step %d; renders in %s", counts.describe(), info["step"], job.url)
    return {**counts.as_dict(), "url": job.url, "step": info["step"]}
