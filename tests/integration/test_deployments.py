"""End to end with the real services: a Prefect server, a process worker and the S3 server.

Deploys prefect.yaml, runs the ``preprocess`` deployment on a studio data set stored on S3,
then ``prefect deployment run 'render-batch/render-batch'`` with a small checkpoint, checks the
renders on S3, and re-runs preprocess, which must do no work and say so.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import s3fs
import torch

from dpt_core import storage
from dpt_core.data import iter_shard
from dpt_core.data.pairs import make_pairs
from dpt_core.models import DensePoseTransfer
from dpt_core.models.scales import get_scale
from dpt_core.studio import generate_dataset
from dpt_core.train.checkpoint import save_checkpoint

pytestmark = pytest.mark.s3

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(REPO / ".venv" / "bin" / "prefect")
SAMPLES = 2 * 2 * 2  # identities × poses × views


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(args: list[str], env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    done = subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def bucket(real_s3_endpoint: str):
    fs = s3fs.S3FileSystem(endpoint_url=real_s3_endpoint, skip_instance_cache=True)
    name = f"dpt-deploy-{uuid.uuid4().hex[:10]}"
    fs.mkdir(name)
    yield f"s3://{name}"
    fs.rm(name, recursive=True)


@pytest.fixture(scope="module")
def prefect_env(tmp_path_factory, real_s3_endpoint: str):
    """A Prefect server on a free port and a worker on the `local` process pool."""
    folder = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    env = {
        **os.environ,
        "DPT_PREFECT_PORT": str(port),
        "DPT_PREFECT_DIR": str(folder),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "AWS_ENDPOINT_URL": real_s3_endpoint,
    }
    try:
        _run(["bash", "infra/prefect_server.sh", "start"], env, timeout=150)
        _run(["bash", "infra/prefect_server.sh", "worker"], env, timeout=90)
        yield env
    finally:
        _stop_worker(folder / "worker.pid")
        subprocess.run(["bash", "infra/prefect_server.sh", "stop"], cwd=REPO, env=env, check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_worker(pid_file: Path, grace_s: float = 5.0) -> None:
    """Stop the worker this module started: SIGTERM, then SIGKILL after ``grace_s``.

    Prefect 3.9's worker started without a terminal (nohup) does not finish its graceful
    shutdown on one SIGTERM / SIGINT; only a second signal makes it exit.
    """
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _tiny_checkpoint(run_url: str) -> str:
    """A randomly initialised tiny generator saved in the training checkpoint format."""
    scale = get_scale("tiny")
    torch.manual_seed(0)
    generator = DensePoseTransfer.from_config(scale)
    payload = {"stage": "blending", "models": {"generator": generator.state_dict()},
               "scale": scale.model_dump(mode="json")}  # fmt: skip
    return save_checkpoint(run_url, 1, payload)


def _run_deployment(name: str, env: dict, **params: object) -> str:
    args = [PREFECT, "deployment", "run", name, "--watch", "--watch-timeout", "240"]
    for key, value in params.items():
        args += ["--param", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    done = _run(args, env, timeout=300)
    return done.stdout + done.stderr


def _flow_run_logs(env: dict, flow_name: str) -> list[str]:
    """Messages of the latest run of ``flow_name``, read from the server's API."""
    script = (
        "import asyncio, json\n"
        "from prefect import get_client\n"
        "from prefect.client.schemas.filters import FlowFilter, FlowFilterName, LogFilter,"
        " LogFilterFlowRunId\n"
        "from prefect.client.schemas.sorting import FlowRunSort\n"
        "async def main():\n"
        "    async with get_client() as c:\n"
        f"        runs = await c.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName("
        f"any_=[{flow_name!r}])), sort=FlowRunSort.START_TIME_DESC, limit=1)\n"
        "        logs = await c.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId("
        "any_=[runs[0].id])))\n"
        "        print(json.dumps([log.message for log in logs]))\n"
        "asyncio.run(main())\n"
    )
    done = _run([str(REPO / ".venv" / "bin" / "python"), "-c", script], env, timeout=60)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _marker_times(root: str) -> dict[str, str]:
    fs, path = storage.url_to_fs(root)
    markers = [p for p in fs.find(path) if p.endswith(storage.MARKER_SUFFIX)]
    return {p: json.loads(fs.cat_file(p))["time"] for p in markers}


def test_preprocess_and_render_batch_deployments_on_s3(bucket, prefect_env):
    env = prefect_env
    src, root = f"{bucket}/incoming/studio", f"{bucket}/dpt"
    generate_dataset(src, identities=2, poses=2, views=2, size=64, seed=3)
    _run([PREFECT, "--no-prompt", "deploy", "--all"], env, timeout=240)

    _run_deployment("preprocess/preprocess", env, src=src, root=root, n=16, max_count=4)
    for folder in ("datasets/studio/shards", "densepose/studio/studio", "textures/studio"):
        tars = [u for u in storage.ls(storage.join(root, folder)) if u.endswith(".tar")]
        assert len(tars) == 2, folder  # 8 samples, 4 per shard
    markers = _marker_times(root)
    make_pairs(root, "studio")
    _tiny_checkpoint(f"{root}/runs/it-tiny")

    _run_deployment("render-batch/render-batch", env, root=root,
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

    _run_deployment("preprocess/preprocess", env, src=src, root=root, n=16, max_count=4)
    logs = _flow_run_logs(env, "preprocess")
    assert any("no work done" in m and "all shards up to date" in m for m in logs), logs
    after = _marker_times(root)
    assert {k: after[k] for k in markers} == markers  # no preprocess output was rewritten
