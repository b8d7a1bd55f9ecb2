"""Flow ``extract-densepose``: dataset shards -> IUV shards (DensePose R-CNN or ground truth)."""

from __future__ import annotations

from prefect import flow, get_run_logger, unmapped

from dpt_core.densepose.options import DEFAULT_CONFIG, ExtractOptions
from flows.params import DatasetName, IuvSource, PersonMode, PositiveInt, StorageUrl
from flows.runners import collect, default_task_runner, log_runner
from tasks.artifacts import count_shards, failures_by_reason, publish_counts
from tasks.data import dataset_shards
from tasks.densepose import EXTRACT_STAGE, extract_shard_task
from tasks.policy import TAG_GPU

FLOW_NAME = "extract-densepose"


@flow(name=FLOW_NAME, task_runner=default_task_runner())
def extract_densepose_flow(
    root: StorageUrl,
    dataset: DatasetName = "studio",
    source: IuvSource = "studio",
    weights: StorageUrl | None = None,
    allow_pickle: bool = False,
    config: str = DEFAULT_CONFIG,
    mode: PersonMode = "all",
    device: str = "cpu",
    batch_size: PositiveInt = 8,
    precomputed_url: StorageUrl | None = None,
) -> dict:
    """IUV of every shard of ``dataset``: ``studio`` ground truth, ``detectron2`` (needs
    ``weights``; a model-zoo ``.pkl`` also ``allow_pickle``) or ``precomputed`` files;
    committed shards are skipped. Returns StageCounts."""
    logger = get_run_logger()
    log_runner(logger, FLOW_NAME)
    options = ExtractOptions(
        source=source, mode=mode, config=config, weights=weights, allow_pickle=allow_pickle,
        device=device, batch_size=batch_size, precomputed_url=precomputed_url,
    )  # fmt: skip
    extract = extract_shard_task
    if source == "detectron2" and device.startswith("cuda"):
        extract = extract.with_options(tags=[*extract.tags, TAG_GPU])
    indices = dataset_shards(root, dataset)
    futures = extract.map(unmapped(root), unmapped(dataset), indices, unmapped(options))
    summaries = collect(futures, "IUV shards")
    failures = failures_by_reason(root, EXTRACT_STAGE, dataset)
    counts = count_shards(EXTRACT_STAGE, dataset, summaries, failures)
    publish_counts(counts, summaries)
    logger.info(counts.describe())
    return counts.as_dict()
