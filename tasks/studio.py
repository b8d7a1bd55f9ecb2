"""Task that renders a studio data set (synthetic people with exact ground truth)."""

from __future__ import annotations

import json

from dpt_core import storage
from dpt_core.studio import generate_dataset
from tasks.policy import run_logger, storage_task

__all__ = ["generate_studio_task"]


def _same_parameters(out: str, wanted: dict) -> bool:
    """Whether ``OUT/studio.json`` (written last) records ``wanted``."""
    url = storage.join(out, "studio.json")
    if not storage.exists(url):
        return False
    recorded = json.loads(storage.read_bytes(url))
    return all(recorded.get(k) == v for k, v in wanted.items())


@storage_task(name="generate-studio")
def generate_studio_task(
    out: str, identities: int, poses: int, views: int, size: int, seed: int = 0, workers: int = 1
) -> dict:
    """Render identities × poses × views samples to ``out``, unless already there (same
    parameters in ``studio.json``); returns the summary (``skipped`` says which)."""
    wanted = {"identities": identities, "poses": poses, "views": views, "size": size, "seed": seed}
    if _same_parameters(out, wanted):
        run_logger().info("studio data set at %s is up to date: not rendered again", out)
        return {"out_url": out, "skipped": True, **wanted}
    summary = generate_dataset(out, identities, poses, views, size, seed, workers=workers)
    return {**summary, "skipped": False}
