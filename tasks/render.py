"""Tasks of the render-batch stage: plan a render set from pairs, render one output shard."""

from __future__ import annotations

from dpt_core.render import STAGE as RENDER_STAGE
from dpt_core.render import RenderJob, pairs_requests, plan_render, render_shard
from tasks.policy import TAG_IO, storage_task

__all__ = ["RENDER_STAGE", "plan_render_task", "render_shard_task"]


@storage_task(name="plan-render")
def plan_render_task(job: RenderJob, split: str, limit: int | None) -> dict:
    """Requests = the ``split`` pairs of ``job.dataset`` (``limit``: that many, evenly spaced
    in output-key order); writes ``requests.parquet`` and ``render.json``, returns the info."""
    return plan_render(job, pairs_requests(job, split, limit))


@storage_task(name="render-shard", tags=[TAG_IO], task_run_name="render-{index}")
def render_shard_task(job: RenderJob, index: int) -> dict:
    """Render output shard ``index`` of the planned set (skipped when committed); summary dict.

    Flows add the ``gpu`` tag when ``job.device`` is a CUDA device.
    """
    return render_shard(job, index)
