"""Fixtures of the training tests: a tiny studio storage root, ready to train, and configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dpt_core.train.config import TrainConfig, load_config
from dpt_core.train.prepare import prepare_studio

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "train"


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread: on a shared, busy CPU more threads make tiny steps slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def studio_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """ROOT with a 64×64 studio set: 3 identities (the last one test) × 2 poses × 3 views,
    4 samples per shard (a person spans two shards), IUVs, textures at n=16 and pairs."""
    root = tmp_path_factory.mktemp("train-root")
    prepare_studio(
        str(root),
        "studio",
        identities=3,
        poses=2,
        views=3,
        size=64,
        atlas_n=16,
        shard_size=4,
        background=False,
    )
    return str(root)


@pytest.fixture(scope="session")
def overfit_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """ROOT with two train pairs only: 1 train identity × 1 pose × 2 views (+ 1 test identity)."""
    root = tmp_path_factory.mktemp("overfit-root")
    prepare_studio(
        str(root),
        "studio",
        identities=2,
        poses=1,
        views=2,
        size=64,
        atlas_n=16,
        shard_size=8,
        background=False,
    )
    return str(root)


@pytest.fixture
def tiny_config(studio_root: str, tmp_path: Path):
    """``make(*overrides)``: configs/train/tiny.yaml on ``studio_root``, a fresh run folder."""

    def make(*overrides: str) -> TrainConfig:
        run = f"run-{tmp_path.name}"
        return load_config(
            str(CONFIGS / "tiny.yaml"), [f"root={studio_root}", f"run={run}", *overrides]
        )

    return make
