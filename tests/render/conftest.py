"""Fixtures of the render / eval tests: a tiny studio root with a pose bank and a checkpoint.

The root holds data set ``studio`` (3 identities × 2 poses × 3 views, 64 px; identity 2 is the
test split) and data set ``bank`` (another seed, 48 px) as a pose bank, both sharded with
their studio IUVs extracted, the studio pairs, and run ``tiny-run``: a randomly initialised
tiny generator saved as a training checkpoint, its config.yaml and a metrics.parquet.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from dpt_core import storage
from dpt_core.data.pairs import make_pairs
from dpt_core.data.sharding import ShardConfig, shard_dataset
from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.stage import extract_dataset
from dpt_core.iuv import read_iuv
from dpt_core.models import DensePoseTransfer, get_scale
from dpt_core.studio import generate_dataset
from dpt_core.train.checkpoint import rng_state, save_checkpoint
from dpt_core.train.config import load_config, save_config
from dpt_core.train.metrics_log import MetricsLog

DATASET, BANK, RUN = "studio", "bank", "tiny-run"
STEP = 3
TINY_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "train" / "tiny.yaml"


def save_tiny_run(root: str, run: str = RUN, seed: int = 0) -> str:
    """A tiny generator (seeded init) saved as checkpoint step 3 of ``run``; returns its URL."""
    torch.manual_seed(seed)
    model = DensePoseTransfer.from_config("tiny")
    config = load_config(str(TINY_CONFIG), [f"root={root}", f"run={run}"], check=False)
    run_url = storage.join(root, "runs", run)
    payload = {
        "stage": "blending", "models": {"generator": model.state_dict()}, "optimizers": {},
        "scaler": {}, "rng": rng_state(), "metrics": {"sums": {}, "steps": 0},
        "scale": get_scale("tiny").model_dump(mode="json"),
        "config": config.model_dump(mode="json"),
    }  # fmt: skip
    url = save_checkpoint(run_url, STEP, payload)
    save_config(config, storage.join(run_url, "config.yaml"))
    log = MetricsLog(storage.join(run_url, "metrics.parquet"))
    for step, l1 in ((1, 0.5), (2, 0.4), (3, 0.35)):
        log.add({"step": step, "stage": "predictive", "l1": l1, "s_per_step": 0.1})
    log.flush()
    return url


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> SimpleNamespace:
    """The root described in the module docstring (built once per session, ≈ 3 s)."""
    base = tmp_path_factory.mktemp("render")
    root, studio_out, bank_out = str(base / "root"), base / "studio", base / "bank_src"
    generate_dataset(str(studio_out), identities=3, poses=2, views=3, size=64, seed=0)
    generate_dataset(str(bank_out), identities=1, poses=2, views=2, size=48, seed=7)
    for src, name in ((studio_out, DATASET), (bank_out, BANK)):
        shard_dataset("studio", str(src), root, name, ShardConfig(max_count=8))
        extract_dataset(root, name, ExtractOptions(source="studio"))
    make_pairs(root, DATASET, max_per_person=6)
    checkpoint = save_tiny_run(root)
    return SimpleNamespace(
        root=root,
        studio=studio_out,
        bank=bank_out,
        checkpoint=checkpoint,
        run_url=storage.join(root, "runs", RUN),
    )


def studio_truth(studio: Path, key: str) -> SimpleNamespace:
    """Ground truth of one studio sample read straight from the generator's files."""
    return SimpleNamespace(
        rgb=np.asarray(Image.open(studio / "images" / f"{key}.png").convert("RGB")),
        mask=np.asarray(Image.open(studio / "masks" / f"{key}.png")) > 127,
        iuv=read_iuv(str(studio / "iuv" / f"{key}.png")),
    )
