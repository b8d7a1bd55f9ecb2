"""Flow ``preprocess`` (scheduled): shard-dataset -> extract-densepose -> precompute-textures.

Incremental: each stage skips every shard whose committed output matches its input
fingerprint, so only new or changed inputs cost work, and a re-run with nothing new does no
work and says so.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from flows.extract_densepose import extract_densepose_flow
from flows.params import AtlasN, DatasetName, IuvSource, LayoutName, PositiveInt, StorageUrl
from flows.precompute_textures import precompute_textures_flow
from flows.shard_dataset import shard_dataset_flow
from tasks.artifacts import artifact_key

FLOW_NAME = "preprocess"


@flow(name=FLOW_NAME)
def preprocess_flow(
    src: StorageUrl,
    root: StorageUrl,
    dataset: DatasetName = "studio",
    layout: LayoutName = "studio",
    source: IuvSource = "studio",
    weights: StorageUrl | None = None,
    n: AtlasN = 200,
    max_count: PositiveInt = 1000,
) -> dict:
    """Shard ``src``, extract IUVs (``source``; ``weights`` for detectron2), precompute
    textures (``n``); returns each stage's counts and ``up_to_date`` (nothing was redone)."""
    logger = get_run_logger()
    stages = {
        "shard": shard_dataset_flow(src, root, dataset, layout, max_count=max_count),
        "extract": extract_densepose_flow(root, dataset, source, weights=weights),
        "textures": precompute_textures_flow(root, dataset, n, source),
    }
    rows = [{"stage": k, **{c: v[c] for c in ("shards", "written", "skipped", "samples")}}
            for k, v in stages.items()]  # fmt: skip
    create_table_artifact(rows, key=artifact_key("preprocess", dataset), description="preprocess")
    up_to_date = all(s["up_to_date"] for s in stages.values())
    if up_to_date:
        logger.info("preprocess: nothing new in %s: no work done, all shards up to date", src)
    else:
        logger.info(
            "preprocess: %s", "; ".join(f"{k} {v['written']} written" for k, v in stages.items())
        )
    return {"stages": stages, "up_to_date": up_to_date}
