"""End to end with the real services: a Prefect server, a process worker and the S3 server.

Deploys prefect.yaml, runs the ``preprocess`` deployment on a studio data set stored on S3,
then ``prefect deployment run 'render-batch/render-batch'`` with a small checkpoint, checks the
renders on S3, and re-runs preprocess, which must do no work and say so.
"""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from integration_services import flow_run_logs, run_deployment, tiny_checkpoint

from dpt_core import storage
from dpt_core.data import iter_shard
from dpt_core.data.pairs import make_pairs
from dpt_core.studio import generate_dataset

pytestmark = pytest.mark.s3

SAMPLES = 2 * 2 * 2  # identities × poses × views


def _marker_times(root: str) -> dict[str, str]:
    fs, path = storage.url_to_fs(root)
    markers = [p for p in fs.find(path) if p.endswith(storage.MARKER_SUFFIX)]
    return {p: json.loads(fs.cat_file(p))["time"] for p in markers}


def test_preprocess_and_render_batch_deployments_on_s3(bucket, deployed_env):
    env = deployed_env
    src, root = f"{bucket}/incoming/studio", f"{bucket}/dpt"
    generate_dataset(src, identities=2, poses=2, views=2, size=64, seed=3)

    run_deployment("preprocess/preprocess", env, None, src=src, root=root, n=16, max_count=4)
    for folder in ("datasets/studio/shards", "densepose/studio/studio", "textures/studio"):
        tars = [u for u in storage.ls(storage.join(root, folder)) if u.endswith(".tar")]
        assert len(tars) == 2, folder  # 8 samples, 4 per shard
    markers = _marker_times(root)
    make_pairs(root, "studio")
    tiny_checkpoint(f"{root}/runs/it-tiny")

    run_deployment("render-batch/render-batch", env, None, root=root,
                    checkpoint=f"{root}/runs/it-tiny", limit=3, shard_size=2)  # fmt: skip
    renders = f"{root}/renders/it-tiny/test-pairs"
    tars = [u for u in storage.ls(renders) if u.endswith(".tar")]
    assert [u.rsplit("/", 1)[-1] for u in tars] == ["test-pairs-00000.tar", "test-pairs-00001.tar"]
    rows, images = [], 0
    for tar in tars:
        for sample in iter_shard(tar):
            image = cv2.imdecode(np.frombuffer(sample["png"], np.uint8), cv2.IMREAD_COLOR)
            assert image.shape == (64, 64, 3)
            images += 1
        manifest = tar.removesuffix(".tar") + ".parquet"
        rows += pq.read_table(io.BytesIO(storage.read_bytes(manifest))).to_pylist()
    assert images == len(rows) == 3
    assert all(r["key"] == f"{r['source_key']}__{r['target_key']}" for r in rows)

    run_deployment("preprocess/preprocess", env, None, src=src, root=root, n=16, max_count=4)
    logs = flow_run_logs(env, "preprocess")
    assert any("no work done" in m and "all shards up to date" in m for m in logs), logs
    after = _marker_times(root)
    assert {k: after[k] for k in markers} == markers  # no preprocess output was rewritten
