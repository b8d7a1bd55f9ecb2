"""Multi-process training: two gloo CPU processes keep identical replicas."""

from __future__ import annotations

import torch

from dpt_core.models import DensePoseTransfer
from dpt_core.train import run_local
from dpt_core.train.distributed import state_digest
from dpt_core.train.metrics_log import read_metrics


def test_two_cpu_processes_keep_identical_replicas(tiny_config) -> None:
    config = tiny_config(
        "stages.inpainter.steps=2",
        "stages.predictive.steps=1",
        "stages.blending.steps=2",
        "checkpoint_every=100",
    )
    results = run_local(config, world_size=2)
    assert [r.rank for r in results] == [0, 1] and all(r.world_size == 2 for r in results)
    assert [r.step for r in results] == [5, 5]
    assert results[0].digests == results[1].digests  # checked in the engine too
    torch.manual_seed(config.seed)
    untrained = state_digest(DensePoseTransfer.from_config(config.model_scale))
    assert results[0].digests["generator"] != untrained
    rows = read_metrics(config.run_url).to_pylist()  # rank 0 writes; values are rank means
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert results[0].losses == results[1].losses
