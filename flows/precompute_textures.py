"""Flow ``precompute-textures``: images scattered through their IUV into partial atlases."""

from __future__ import annotations

from prefect import flow, get_run_logger, unmapped

from flows.params import AtlasN, DatasetName, IuvSource, StorageUrl
from flows.runners import collect, default_task_runner, log_runner
from tasks.artifacts import count_shards, failures_by_reason, publish_counts
from tasks.data import dataset_shards
from tasks.textures import TEXTURES_STAGE, precompute_textures_task

FLOW_NAME = "precompute-textures"


@flow(name=FLOW_NAME, task_runner=default_task_runner())
def precompute_textures_flow(
    root: StorageUrl,
    dataset: DatasetName = "studio",
    n: AtlasN = 200,
    source: IuvSource = "studio",
    overwrite: bool = False,
) -> dict:
    """Texture shard (``n`` texels per tile side; the model scale's ``atlas_n`` when they feed
    training) of every shard of ``dataset``; committed shards are skipped. Returns StageCounts."""
    logger = get_run_logger()
    log_runner(logger, FLOW_NAME)
    indices = dataset_shards(root, dataset)
    futures = precompute_textures_task.map(
        unmapped(root), unmapped(dataset), indices, unmapped(n), unmapped(source),
        unmapped(overwrite),
    )  # fmt: skip
    summaries = collect(futures, "texture shards")
    failures = failures_by_reason(root, TEXTURES_STAGE, dataset)
    counts = count_shards(TEXTURES_STAGE, dataset, summaries, failures)
    publish_counts(counts, summaries)
    logger.info(counts.describe())
    return counts.as_dict()
