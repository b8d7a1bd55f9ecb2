"""Flow ``make-pairs``: source/target pairs of the same person, split by identity."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from flows.params import DatasetName, Fraction, PositiveInt, StorageUrl
from flows.runners import default_task_runner
from tasks.artifacts import artifact_key
from tasks.data import make_pairs_task

FLOW_NAME = "make-pairs"


@flow(name=FLOW_NAME, task_runner=default_task_runner())
def make_pairs_flow(
    root: StorageUrl,
    dataset: DatasetName = "studio",
    test_fraction: Fraction = 0.1,
    seed: int = 0,
    max_per_person: PositiveInt | None = None,
) -> dict:
    """Write ``pairs/DATASET/{train,test}.parquet``; returns pairs and persons per split."""
    logger = get_run_logger()
    summary = make_pairs_task(root, dataset, test_fraction, seed, max_per_person)
    table = [
        {"split": s, "pairs": n, "persons": summary.persons[s], "url": summary.urls[s]}
        for s, n in summary.pairs.items()
    ]
    create_table_artifact(table, key=artifact_key("pairs", dataset), description="pairs by split")
    logger.info("make-pairs: %s pairs, %s persons", summary.pairs, summary.persons)
    return asdict(summary)
