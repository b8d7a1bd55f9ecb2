"""Reliability suites: figures written at session end, and the shared fixtures."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from reliability_figures import FIGURES
from reliability_kill import NAME, RENDER_RUN, TINY, run_stage

FIGURES_FILE = "reliability-figures.json"
_written: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def _figures_file(tmp_path_factory: pytest.TempPathFactory):
    """Remember where the session's figures go (``<basetemp>/reliability-figures.json``)."""
    yield
    targets = [tmp_path_factory.getbasetemp() / FIGURES_FILE]
    if os.environ.get("DPT_RELIABILITY_FIGURES"):
        targets.append(Path(os.environ["DPT_RELIABILITY_FIGURES"]))
    for path in targets:
        FIGURES.write(path)
        _written.append(path)


def pytest_terminal_summary(terminalreporter) -> None:
    """Echo the figures (and where they were written) after the test results."""
    if FIGURES.empty():
        return
    terminalreporter.section("reliability figures")
    terminalreporter.write_line(json.dumps(FIGURES.as_dict(), indent=1, sort_keys=True))
    for path in _written:
        terminalreporter.write_line(f"written to {path}")


def _save_random_checkpoint(root: str) -> None:
    """A seeded, untrained tiny generator saved as step 1 of run ``ckpt-run``."""
    import torch

    from dpt_core import storage
    from dpt_core.models import DensePoseTransfer, get_scale
    from dpt_core.train.checkpoint import rng_state, save_checkpoint
    from dpt_core.train.config import load_config

    torch.manual_seed(0)
    model = DensePoseTransfer.from_config("tiny")
    config = load_config(str(TINY), [f"root={root}", f"run={RENDER_RUN}"], check=False)
    payload = {
        "stage": "blending", "models": {"generator": model.state_dict()}, "optimizers": {},
        "scaler": {}, "rng": rng_state(), "metrics": {"sums": {}, "steps": 0},
        "scale": get_scale("tiny").model_dump(mode="json"),
        "config": config.model_dump(mode="json"),
    }  # fmt: skip
    save_checkpoint(storage.join(root, "runs", RENDER_RUN), 1, payload)


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Uninterrupted runs: a 12-sample studio set (48 px) in 6 shards, its IUVs, textures
    (n=16), pairs and an untrained tiny checkpoint; render and train run on demand."""
    from dpt_core.data.pairs import make_pairs
    from dpt_core.studio import generate_dataset

    base = tmp_path_factory.mktemp("kill")
    src, root = str(base / "src"), str(base / "ref")
    generate_dataset(src, identities=3, poses=2, views=2, size=48, seed=0, background=False)
    for stage in ("shard", "extract", "textures"):
        run_stage(stage, src, root)
    make_pairs(root, NAME)
    _save_random_checkpoint(root)
    return SimpleNamespace(base=base, src=src, root=root, done={"shard", "extract", "textures"})
