"""Fixtures of the re-id tests: a small Market-1501 tree of studio people, its IUVs, a studio
pose bank and a tiny generator checkpoint.

The tree (``market``): studio identities 0..3 rendered at 64 × 128 (W × H), 2 poses × 3 views;
identities 0..2 are training persons 0002, 0004, 0006 (``bounding_box_train/``), identity 3 is
test person 0008 (view 0 in ``query/``, the others in ``bounding_box_test/``). Camera = view + 1,
sequence 1, frame = 100 · pose + view, box 01. Also: a distractor (0000) in the training folder,
a junk box (-1) in the gallery and a ``Thumbs.db`` in ``query/``: all must be copied untouched,
never augmented. ``iuvs`` holds each training image's ground-truth IUV as ``STEM.iuv.png``.
"""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from dpt_core import storage
from dpt_core.iuv import write_iuv
from dpt_core.models import DensePoseTransfer, get_scale
from dpt_core.reid import AugmentConfig, augment_reid
from dpt_core.studio import generate_dataset, render_samples
from dpt_core.train.checkpoint import rng_state, save_checkpoint

TRAIN_PERSONS = ("0002", "0004", "0006")
TEST_PERSON = "0008"
K = 3
STEP = 5


def jpeg(rgb_hw3: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb_hw3).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def save_tiny_checkpoint(root: Path, run: str = "tiny-reid") -> str:
    """A seeded, untrained tiny generator saved as a training checkpoint (step 5)."""
    torch.manual_seed(0)
    model = DensePoseTransfer.from_config("tiny")
    payload = {
        "stage": "blending", "models": {"generator": model.state_dict()}, "optimizers": {},
        "scaler": {}, "rng": rng_state(), "metrics": {"sums": {}, "steps": 0},
        "scale": get_scale("tiny").model_dump(mode="json"), "config": {},
    }  # fmt: skip
    return save_checkpoint(storage.join(str(root), "runs", run), STEP, payload)


def _market_name(person: str, pose: int, view: int) -> str:
    return f"{person}_c{view + 1}s1_{100 * pose + view:06d}_01"


def build_market_tree(base: Path) -> SimpleNamespace:
    """The tree and IUV folder described in the module docstring."""
    batch = render_samples(identities=4, poses=2, views=3, size=(128, 64), seed=0)
    tree, iuvs = base / "market", base / "iuvs"
    for folder in ("bounding_box_train", "bounding_box_test", "query"):
        (tree / folder).mkdir(parents=True)
    iuvs.mkdir()
    persons = [*TRAIN_PERSONS, TEST_PERSON]
    for b in range(len(batch)):
        person = persons[int(batch.identity[b])]
        pose, view = int(batch.pose_index[b]), int(batch.view[b])
        stem = _market_name(person, pose, view)
        rgb = batch.rgb[b].permute(1, 2, 0).numpy()
        if person != TEST_PERSON:
            folder = "bounding_box_train"
            write_iuv(str(iuvs / f"{stem}.iuv.png"), batch.iuv[b].permute(1, 2, 0).numpy())
        else:
            folder = "query" if view == 0 else "bounding_box_test"
        (tree / folder / f"{stem}.jpg").write_bytes(jpeg(rgb))
    noise = np.random.default_rng(0).integers(0, 256, (128, 64, 3), dtype=np.uint8)
    (tree / "bounding_box_train" / "0000_c2s1_000007_01.jpg").write_bytes(jpeg(noise))
    (tree / "bounding_box_test" / "-1_c3s2_000009_02.jpg").write_bytes(jpeg(noise))
    (tree / "query" / "Thumbs.db").write_bytes(b"not an image")
    return SimpleNamespace(tree=tree, iuvs=iuvs, batch=batch)


@pytest.fixture(scope="session")
def reid_inputs(tmp_path_factory) -> SimpleNamespace:
    """Market tree, IUVs, a studio pose bank (6 poses, 64 px) and a tiny checkpoint."""
    base = tmp_path_factory.mktemp("reid")
    built = build_market_tree(base)
    bank = base / "bank"
    generate_dataset(str(bank), identities=1, poses=3, views=2, size=64, seed=7)
    checkpoint = save_tiny_checkpoint(base / "models")
    return SimpleNamespace(base=base, bank=str(bank), checkpoint=checkpoint, **vars(built))


def market_config(inputs: SimpleNamespace, dst: Path, **changes) -> AugmentConfig:
    """The augmentation of the fixture tree with precomputed IUVs, K poses from the bank."""
    args = {"per_identity": K, "iuv_source": "precomputed", "precomputed_url": str(inputs.iuvs),
            "identities_per_shard": 2, **changes}  # fmt: skip
    return AugmentConfig(str(inputs.tree), str(dst), inputs.bank, inputs.checkpoint, **args)


@pytest.fixture(scope="session")
def market_run(reid_inputs) -> SimpleNamespace:
    """``augment_reid`` of the fixture tree into ``base/dst`` (K = 3, 2 identities per shard)."""
    dst = reid_inputs.base / "dst"
    config = market_config(reid_inputs, dst)
    summary = augment_reid(config)
    return SimpleNamespace(config=config, summary=summary, dst=dst, inputs=reid_inputs)


@pytest.fixture
def make_config(reid_inputs):
    """``make_config(dst, **changes)``: :func:`market_config` of the fixture inputs."""
    return lambda dst, **changes: market_config(reid_inputs, dst, **changes)
