"""Fixtures for the DensePose tests: studio renders, random official-format weights, shards."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from dpt_core import iuv
from dpt_core.data import shards

DATASET = "studio"
BLANK_KEY = "id00099_p000_v00"  # a sample with no person at all


def encode_png_rgb(image_rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image_rgb[..., ::-1]))
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="session")
def studio_batch():
    """Two studio renders (one identity, two views), 128x128."""
    from dpt_core.studio.render import render_samples

    return render_samples(identities=1, poses=1, views=2, size=128)


@pytest.fixture(scope="session")
def studio_images(studio_batch) -> list[np.ndarray]:
    """The renders as (H, W, 3) uint8 RGB arrays."""
    return [np.ascontiguousarray(t.permute(1, 2, 0).numpy()) for t in studio_batch.rgb]


@pytest.fixture(scope="session")
def studio_iuvs(studio_batch) -> list[np.ndarray]:
    """Ground-truth IUV of the renders, (H, W, 3) uint8."""
    return [np.ascontiguousarray(t.permute(1, 2, 0).numpy()) for t in studio_batch.iuv]


@pytest.fixture(scope="session")
def r50_weights(tmp_path_factory) -> str:
    """A randomly initialised R_50_FPN_s1x saved as .pth under the official key names."""
    from dpt_core.densepose.model import save_random_weights

    url = str(tmp_path_factory.mktemp("weights") / "densepose_rcnn_R_50_FPN_s1x_random.pth")
    save_random_weights(url, "densepose_rcnn_R_50_FPN_s1x", "pth", seed=0)
    return url


@pytest.fixture(scope="session")
def r50_model(r50_weights):
    """The model built from ``r50_weights``: native input size, up to 2 people per image."""
    from dpt_core.densepose.model import DensePoseModel

    overrides = {
        "INPUT.MIN_SIZE_TEST": 0,
        "MODEL.ROI_HEADS.SCORE_THRESH_TEST": 0.5,
        "TEST.DETECTIONS_PER_IMAGE": 2,
    }
    return DensePoseModel.build(weights=r50_weights, overrides=overrides)


@pytest.fixture
def studio_root(tmp_path, studio_batch, studio_images, studio_iuvs) -> str:
    """ROOT with datasets/studio/shards/studio-00000.tar: two renders and one blank sample."""
    samples = []
    for key, image, iuv_hw3 in zip(studio_batch.keys, studio_images, studio_iuvs, strict=True):
        samples.append(_sample(key, image, iuv_hw3))
    blank = np.full_like(studio_images[0], 40)
    samples.append(_sample(BLANK_KEY, blank, np.zeros_like(studio_iuvs[0])))
    root = tmp_path / "root"
    shard_dir = root / "datasets" / DATASET / "shards"
    shard_dir.mkdir(parents=True)
    shards.write_shard(str(shard_dir / f"{DATASET}-00000.tar"), samples)
    return str(root)


def _sample(key: str, image_rgb: np.ndarray, iuv_hw3: np.ndarray) -> dict:
    meta = {"key": key, "person_id": key[:7]}
    return {
        "__key__": key,
        "png": encode_png_rgb(image_rgb),
        "iuv.png": iuv.encode_iuv_png(iuv_hw3),
        "json": json.dumps(meta).encode(),
    }
