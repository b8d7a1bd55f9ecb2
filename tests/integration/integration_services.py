"""Helpers of the integration tests: free ports, commands, stopping what a test started,
a tiny checkpoint, and deployment runs against the Prefect server of ``conftest.py``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import torch

from dpt_core.models import DensePoseTransfer
from dpt_core.models.scales import get_scale
from dpt_core.train.checkpoint import save_checkpoint

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"
PREFECT = str(BIN / "prefect")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(args: list[str], env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run ``args`` in the checkout; AssertionError with the output tails unless it exits 0."""
    done = subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def alive(pid: int) -> bool:
    """Whether process ``pid`` still exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_pid(pid: int, grace_s: float = 5.0, group: bool = False) -> None:
    """SIGTERM ``pid`` (its process group when ``group``), SIGKILL after ``grace_s``.

    Prefect 3.9's worker started without a terminal (nohup) does not finish its graceful
    shutdown on one SIGTERM / SIGINT; only a second signal makes it exit.
    """
    kill = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError):
        kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        kill(pid, signal.SIGKILL)


def stop_pid_file(pid_file: Path, grace_s: float = 5.0) -> None:
    """:func:`stop_pid` on the pid written in ``pid_file``, if there is one."""
    if pid_file.exists():
        stop_pid(int(pid_file.read_text().strip()), grace_s)


def tiny_checkpoint(run_url: str) -> str:
    """A randomly initialised tiny generator saved in the training checkpoint format."""
    scale = get_scale("tiny")
    torch.manual_seed(0)
    generator = DensePoseTransfer.from_config(scale)
    payload = {"stage": "blending", "models": {"generator": generator.state_dict()},
               "scale": scale.model_dump(mode="json")}  # fmt: skip
    return save_checkpoint(run_url, 1, payload)


def deployment_args(name: str, job_env: dict | None = None, **params: object) -> list[str]:
    """``prefect deployment run NAME --watch`` with ``params``; ``job_env`` is merged over
    the deployment's ``env`` job variable for this run."""
    args = [PREFECT, "deployment", "run", name, "--watch", "--watch-timeout", "240"]
    if job_env is not None:
        args += ["--job-variable", f"env={json.dumps(job_env)}"]
    for key, value in params.items():
        args += ["--param", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    return args


def run_deployment(name: str, env: dict, job_env: dict | None = None, **params: object) -> str:
    """Run deployment ``name`` to its end (AssertionError unless it completes); its output."""
    done = run(deployment_args(name, job_env, **params), env, timeout=300)
    return done.stdout + done.stderr


def flow_run_id(cli_output: str) -> str:
    """The flow run id ``prefect deployment run`` printed (its ``└── UUID: ...`` line)."""
    found = re.search(r"UUID: ([0-9a-f-]{36})", cli_output)
    assert found, f"no flow run id in:\n{cli_output[-2000:]}"
    return found.group(1)


def flow_run_logs(env: dict, flow_name: str, run_id: str | None = None) -> list[str]:
    """Messages of flow run ``run_id`` (default: the latest run of ``flow_name``), read from
    the server's API."""
    script = (
        "import asyncio, json, sys\n"
        "from prefect import get_client\n"
        "from prefect.client.schemas.filters import FlowFilter, FlowFilterName, LogFilter,"
        " LogFilterFlowRunId\n"
        "from prefect.client.schemas.sorting import FlowRunSort\n"
        "async def main():\n"
        "    async with get_client() as c:\n"
        "        run_id = sys.argv[2] if len(sys.argv) > 2 else None\n"
        "        if run_id is None:\n"
        "            runs = await c.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName("
        "any_=[sys.argv[1]])), sort=FlowRunSort.START_TIME_DESC, limit=1)\n"
        "            run_id = runs[0].id\n"
        "        logs = await c.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId("
        "any_=[run_id])))\n"
        "        print(json.dumps([log.message for log in logs]))\n"
        "asyncio.run(main())\n"
    )
    args = [str(BIN / "python"), "-c", script, flow_name, *([run_id] if run_id else [])]
    done = run(args, env, timeout=60)
    return json.loads(done.stdout.strip().splitlines()[-1])
