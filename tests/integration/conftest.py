"""Services shared by the integration tests: one Prefect server with a process worker on the
`local` pool and prefect.yaml deployed, started once per session and stopped at its end."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
import s3fs
from integration_services import PREFECT, REPO, free_port, run, stop_pid_file


@pytest.fixture(scope="session")
def prefect_env(tmp_path_factory, real_s3_endpoint: str):
    """Env of a Prefect server on a free port with a worker on the `local` process pool."""
    folder = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
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
        run(["bash", "infra/prefect_server.sh", "start"], env, timeout=150)
        run(["bash", "infra/prefect_server.sh", "worker"], env, timeout=90)
        yield env
    finally:
        stop_pid_file(folder / "worker.pid")
        subprocess.run(["bash", "infra/prefect_server.sh", "stop"], cwd=REPO, env=env, check=False)


@pytest.fixture(scope="session")
def deployed_env(prefect_env: dict) -> dict:
    """``prefect_env`` with every deployment of prefect.yaml deployed from the checkout."""
    run([PREFECT, "--no-prompt", "deploy", "--all"], prefect_env, timeout=240)
    return prefect_env


@pytest.fixture(scope="module")
def bucket(real_s3_endpoint: str):
    """An empty bucket on the real S3 server (``s3://NAME``), removed afterwards."""
    fs = s3fs.S3FileSystem(endpoint_url=real_s3_endpoint, skip_instance_cache=True)
    name = f"dpt-it-{uuid.uuid4().hex[:10]}"
    fs.mkdir(name)
    yield f"s3://{name}"
    fs.rm(name, recursive=True)
