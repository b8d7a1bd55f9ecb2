"""Flow ``augment-reid``: a re-id data set enlarged with every identity in new poses."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, get_run_logger, unmapped

from dpt_core.reid.config import AugmentConfig
from flows.params import DatasetName, IuvSource, PositiveInt, StorageUrl
from flows.runners import collect, default_task_runner, log_runner
from tasks.artifacts import count_shards, publish_counts, publish_link
from tasks.policy import TAG_GPU
from tasks.reid import (
    REID_STAGE,
    augment_shard_task,
    copy_originals_task,
    finalize_augment_task,
    prepare_augment_task,
)

FLOW_NAME = "augment-reid"


@flow(name=FLOW_NAME, task_runner=default_task_runner())
def augment_reid_flow(
    src: StorageUrl,
    dst: StorageUrl,
    pose_bank: StorageUrl,
    checkpoint: StorageUrl | None = None,
    per_identity: PositiveInt = 4,
    work: StorageUrl | None = None,
    name: DatasetName | None = None,
    iuv_source: IuvSource = "detectron2",
    weights: StorageUrl | None = None,
    precomputed_url: StorageUrl | None = None,
    sources_per_identity: PositiveInt = 3,
    identities_per_shard: PositiveInt = 64,
    seed: int = 0,
    batch_size: PositiveInt = 8,
    device: str = "cpu",
) -> dict:
    """Render every training identity of ``src`` (a Market-1501 folder or ROOT/datasets/NAME)
    in ``per_identity`` poses of ``pose_bank`` with ``checkpoint`` (required); write ``dst`` in
    Market-1501 layout, one task per identity shard (committed shards are skipped).
    Returns StageCounts plus the summary (``dst``, ``manifest_url``, ``generated``, ...)."""
    logger = get_run_logger()
    log_runner(logger, FLOW_NAME)
    config = AugmentConfig(
        src, dst, pose_bank, checkpoint, per_identity, work=work, name=name,
        iuv_source=iuv_source, weights=weights, precomputed_url=precomputed_url,
        sources_per_identity=sources_per_identity, identities_per_shard=identities_per_shard,
        seed=seed, batch_size=batch_size, device=device,
    )  # fmt: skip
    plan = prepare_augment_task(config)
    originals = copy_originals_task.submit(plan)
    augment = augment_shard_task
    if device.startswith("cuda"):
        augment = augment.with_options(tags=[*augment.tags, TAG_GPU])
    results = collect(augment.map(unmapped(plan), range(plan.shards)), "identity shards")
    summary = finalize_augment_task(plan, results, originals.result())
    counts = count_shards(REID_STAGE, plan.name, results, summary.failures)
    publish_counts(counts, results)
    publish_link(f"augment-reid-{plan.name}", summary.dst, f"augmented re-id set {plan.name}")
    logger.info("%s; %d generated images in %s", counts.describe(), summary.generated, dst)
    return {**counts.as_dict(), **asdict(summary)}
