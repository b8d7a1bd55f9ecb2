"""Constants and helpers of the render / eval tests (a module of its own: test files import it,
and `conftest` is not a unique module name across test folders)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

from dpt_core import storage
from dpt_core.iuv import read_iuv
from dpt_core.models import DensePoseTransfer, get_scale
from dpt_core.train.checkpoint import rng_state, save_checkpoint
from dpt_core.train.config import load_config, save_config
from dpt_core.train.metrics_log import MetricsLog

DATASET, BANK, RUN = "studio", "bank", "tiny-run"
STEP = 3
TINY_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "train" / "tiny.yaml"
# The CPU kernels of a baseline x86-64 CPU (SSE4 only), whatever this CPU has; as `make
# test-determinism` sets them for its second rerun.
BASELINE_KERNELS = {
    "ATEN_CPU_CAPABILITY": "default",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
}


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


def studio_truth(studio: Path, key: str) -> SimpleNamespace:
    """Ground truth of one studio sample read straight from the generator's files."""
    return SimpleNamespace(
        rgb=np.asarray(Image.open(studio / "images" / f"{key}.png").convert("RGB")),
        mask=np.asarray(Image.open(studio / "masks" / f"{key}.png")) > 127,
        iuv=read_iuv(str(studio / "iuv" / f"{key}.png")),
    )
