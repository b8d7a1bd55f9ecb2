"""A real Dask cluster over S3, started the way README "Running on a cluster" says.

A scheduler and two workers run as separate processes from Dask's own CLI (`dask scheduler`,
`dask worker`), each worker in its own empty folder with an environment that holds the code
(PYTHONPATH), the Prefect API and the S3 keys, and no data: S3 is the only shared storage.
The `preprocess` and `render-batch` deployments run on the session's Prefect server and process
worker twice on the same inputs, once with the thread runner and once with `DPT_DASK_ADDRESS`
set through the run's job variables. One Dask worker is SIGKILLed while render-batch runs.
Both runs must leave the same files, byte-identical preprocess outputs and manifests, renders
within RENDER_TOLERANCE, the same failures logs, and no temporary file.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client
from integration_services import (
    BIN,
    REPO,
    deployment_args,
    flow_run_id,
    flow_run_logs,
    free_port,
    stop_pid,
    tiny_checkpoint,
)

from dpt_core import storage
from dpt_core.data import iter_shard
from dpt_core.data.manifest import read_dataset_manifest
from dpt_core.data.pairs import PAIRS_SCHEMA, pairs_url
from dpt_core.data.shards import write_manifest
from dpt_core.metrics.agreement import RENDER_TOLERANCE, assert_agree
from dpt_core.studio import generate_dataset

pytestmark = pytest.mark.s3

DASK = str(BIN / "dask")
WORKERS = ("worker-a", "worker-b")
RENDER = "renders/it-tiny/test-pairs"
BAD_IMAGE = "images/id00001_p001_v01.png"  # truncated below: a shard-stage failure
MISSING_TARGET = "id09999_p000_v00"  # a pair target no stage knows: a render-stage failure


@dataclass
class DaskCluster:
    """Scheduler address, dashboard URL, process of each component, the scheduler's log."""

    address: str
    dashboard: str
    procs: dict[str, subprocess.Popen]
    scheduler_log: Path


def _worker_env(prefect_env: dict, home: Path) -> dict:
    """What a worker machine has: the code, the Prefect API, the S3 settings; no data."""
    keep = ("PATH", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "PREFECT_API_URL", "PREFECT_SERVER_ANALYTICS_ENABLED")  # fmt: skip
    env = {k: prefect_env[k] for k in keep if k in prefect_env}
    return {**env, "HOME": str(home), "PREFECT_HOME": str(home / ".prefect"),
            "PYTHONPATH": str(REPO), "PREFECT_LOGGING_EXTRA_LOGGERS": "dpt_core",
            "OMP_NUM_THREADS": "1"}  # fmt: skip


def _start(args: list[str], folder: Path, env: dict) -> subprocess.Popen:
    """``args`` in ``folder`` (its own process group, so a kill takes the nanny's child too)."""
    with (folder.parent / f"{folder.name}.log").open("wb") as log:
        return subprocess.Popen(args, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def _wait_for_workers(address: str, n: int, logs: Path, timeout: float = 90) -> None:
    """Return once ``n`` workers joined the scheduler at ``address``; AssertionError naming
    the folder of the logs after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with Client(address, timeout=5) as client:
                if len(client.scheduler_info(n_workers=-1)["workers"]) >= n:
                    return
        except OSError:  # the scheduler is not listening yet
            pass
        time.sleep(0.5)
    raise AssertionError(f"{n} Dask workers did not join {address} in {timeout} s: see {logs}")


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory, prefect_env):
    """`dask scheduler` and two `dask worker` processes (one thread each) on free ports."""
    base = tmp_path_factory.mktemp("dask")
    port, dash = free_port(), free_port()
    address, procs = f"tcp://127.0.0.1:{port}", {}
    try:
        (base / "scheduler").mkdir()
        procs["scheduler"] = _start(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--dashboard-address", f"127.0.0.1:{dash}"],
            base / "scheduler", _worker_env(prefect_env, base / "scheduler"),
        )  # fmt: skip
        for name in WORKERS:
            folder = base / name
            folder.mkdir()
            procs[name] = _start(
                [DASK, "worker", address, "--name", name, "--nthreads", "1", "--nworkers", "1",
                 "--no-dashboard", "--local-directory", str(folder)],
                folder, _worker_env(prefect_env, folder),
            )  # fmt: skip
        _wait_for_workers(address, len(WORKERS), base)
        yield DaskCluster(address, f"http://127.0.0.1:{dash}/status", procs, base / "scheduler.log")
    finally:
        for proc in reversed(procs.values()):  # workers first
            stop_pid(proc.pid, group=True)


def _job_env(runner: str, address: str | None = None) -> dict:
    """The `env` job variable of a run (merged over the deployment's): the task runner."""
    return {"DPT_TASK_RUNNER": runner} | ({"DPT_DASK_ADDRESS": address} if address else {})


def _objects(root: str) -> dict[str, bytes | None]:
    """Relative path -> bytes of every object under ``root``; markers without their time,
    failures logs (rows stamped with their time) as None: see :func:`_failures`."""
    fs, path = storage.url_to_fs(root)
    found: dict[str, bytes | None] = {}
    for name in fs.find(path):
        if "/failures/" in name:
            found[name[len(path) :].lstrip("/")] = None
            continue
        data = fs.cat_file(name)
        if name.endswith(storage.MARKER_SUFFIX):
            data = json.dumps({k: v for k, v in json.loads(data).items() if k != "time"}).encode()
        found[name[len(path) :].lstrip("/")] = data
    return found


def _failures(root: str, stage: str, name: str) -> list[tuple]:
    rows = storage.read_failures(root, stage, name)
    return sorted((f.key, f.source, f.reason, f.detail) for f in rows)


def _test_pairs(root: str) -> None:
    """Test pairs: every ordered pair of identity 0's samples, and one unknown target."""
    manifest = read_dataset_manifest(root, "studio", ["key", "person_id"]).to_pylist()
    person = manifest[0]["person_id"]
    keys = sorted(r["key"] for r in manifest if r["person_id"] == person)
    rows = [(s, t, person) for s in keys for t in keys if s != t]
    rows.append((keys[0], MISSING_TARGET, person))
    table = pa.table(dict(zip(PAIRS_SCHEMA.names, zip(*rows, strict=True), strict=True)))
    write_manifest(pairs_url(root, "studio", "test"), table.cast(PAIRS_SCHEMA), PAIRS_SCHEMA)


def _kill_a_busy_worker(cluster: DaskCluster, render: subprocess.Popen, root: str) -> str:
    """Wait until a worker is executing a task (a render shard: render-batch plans in the flow
    process) while shards are still uncommitted, SIGKILL it; its name."""
    done = f"{root}/{RENDER}"
    with Client(cluster.address, timeout=10) as client:
        names = {a: w["name"] for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
        deadline = time.monotonic() + 240
        while render.poll() is None and time.monotonic() < deadline:
            busy = [names[a] for a, stacks in client.call_stack().items() if stacks]
            if busy:
                os.killpg(cluster.procs[busy[0]].pid, signal.SIGKILL)
                committed = [u for u in storage.ls(done) if u.endswith(storage.MARKER_SUFFIX)]
                info = json.loads(storage.read_bytes(f"{done}/render.json"))
                assert len(committed) < info["shards"], "render-batch ended before the kill"
                return busy[0]
            time.sleep(0.05)
    raise AssertionError(f"no Dask worker got a render task (render-batch exit {render.poll()})")


def _tasks_run_on_workers(cluster: DaskCluster) -> set[str]:
    """Names (less the index) of the Prefect task runs the Dask workers' logs report."""
    logs = [cluster.scheduler_log.with_name(f"{name}.log").read_text() for name in WORKERS]
    return {m.rsplit("-", 1)[0] for m in re.findall(r"Task run '([\w-]+)'", "".join(logs))}


def _renders(root: str) -> dict[str, np.ndarray]:
    """Output key -> decoded render of every committed shard under ``root``."""
    images = {}
    for tar in sorted(u for u in storage.ls(f"{root}/{RENDER}") if u.endswith(".tar")):
        for sample in iter_shard(tar):
            png = np.frombuffer(sample["png"], np.uint8)
            images[sample["__key__"]] = cv2.imdecode(png, cv2.IMREAD_COLOR)
    return images


def _manifest_rows(objects: dict[str, bytes]) -> list[dict]:
    rows = []
    for name in sorted(n for n in objects if n.startswith(RENDER) and n.endswith(".parquet")):
        if not name.endswith("requests.parquet"):
            rows += pq.read_table(io.BytesIO(objects[name])).to_pylist()
    return rows


def _start_runs(env: dict, cluster: DaskCluster, name: str, roots: dict, **params) -> dict:
    """Deployment ``name`` on each root at once, with its runner: runner -> CLI process."""
    procs = {}
    for runner, root in roots.items():
        job_env = _job_env(runner, cluster.address if runner == "dask" else None)
        args = deployment_args(name, job_env, root=root, **params)
        procs[runner] = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True)  # fmt: skip
    return procs


def _finish(procs: dict, what: str) -> dict:
    """Runner -> CLI output of each run once it ends; AssertionError unless all completed."""
    outputs = {runner: proc.communicate(timeout=300)[0] for runner, proc in procs.items()}
    for runner, proc in procs.items():
        assert proc.returncode == 0, f"{what} ({runner}) failed:\n{outputs[runner][-3000:]}"
    return outputs


def test_preprocess_and_render_batch_on_a_dask_cluster(bucket, deployed_env, dask_cluster):
    env, cluster = deployed_env, dask_cluster
    src, roots = f"{bucket}/incoming/studio", {r: f"{bucket}/{r}" for r in ("thread", "dask")}
    generate_dataset(src, identities=2, poses=2, views=2, size=64, seed=5)
    storage.write_bytes(f"{src}/{BAD_IMAGE}", storage.read_bytes(f"{src}/{BAD_IMAGE}")[:100])

    runs = _start_runs(env, cluster, "preprocess/preprocess", roots, src=src, n=16, max_count=3)
    cli_output = _finish(runs, "preprocess")["dask"]
    assert "URL: http://127.0.0.1:" in cli_output and "/runs/flow-run/" in cli_output  # the UI
    pre = {k: _objects(r) for k, r in roots.items()}
    assert pre["dask"] == pre["thread"]  # same files, same bytes (markers but their time)
    assert any(n.startswith("datasets/studio/shards/") for n in pre["dask"])
    failures = {k: _failures(r, "shard", "studio") for k, r in roots.items()}
    assert failures["dask"] == failures["thread"] and len(failures["dask"]) == 1

    checkpoint = tiny_checkpoint(f"{bucket}/runs/it-tiny")
    for root in roots.values():
        _test_pairs(root)
    params = {"checkpoint": checkpoint, "shard_size": 2, "batch_size": 2}
    runs = _start_runs(env, cluster, "render-batch/render-batch", roots, **params)
    killed = _kill_a_busy_worker(cluster, runs["dask"], roots["dask"])
    cli_output = _finish(runs, f"render-batch with {killed} killed")["dask"]
    assert cluster.procs[killed].wait(timeout=10) == -signal.SIGKILL

    out = {k: _objects(r) for k, r in roots.items()}
    assert sorted(out["dask"]) == sorted(out["thread"])  # no partial or temporary file
    assert not any(storage.TEMP_PREFIX in n for n in out["dask"])
    assert _manifest_rows(out["dask"]) == _manifest_rows(out["thread"])
    thread_renders, dask_renders = _renders(roots["thread"]), _renders(roots["dask"])
    assert sorted(dask_renders) == sorted(thread_renders) and len(thread_renders) == 12
    for key, image in thread_renders.items():
        assert_agree(dask_renders[key], image, RENDER_TOLERANCE, f"render {key}")
    failures = {k: _failures(r, "render", "test-pairs") for k, r in roots.items()}
    assert failures["dask"] == failures["thread"]
    assert [f[2] for f in failures["dask"]] == ["missing target"]

    stages = {"write-studio", "extract", "textures", "render"}
    assert stages <= _tasks_run_on_workers(cluster)  # the tasks ran on the Dask workers
    logs = flow_run_logs(env, "render-batch", flow_run_id(cli_output))
    assert any(f"scheduler {cluster.address}" in m for m in logs), logs
    assert any(f"Dask dashboard {cluster.dashboard}" in m for m in logs), logs
    with urllib.request.urlopen(cluster.dashboard, timeout=10) as page:
        assert page.status == 200
    assert f"name: {killed}" in cluster.scheduler_log.read_text()  # the scheduler saw it go
