"""Task runners of the flows: a thread pool by default, Dask (prefect-dask) on request.

Which one a flow uses is decided where it is built, from the environment (so a deployment
picks it through its job variables), and an explicit ``flow.with_options(task_runner=...)``
always wins; every flow logs the runner it actually uses.

* ``DPT_TASK_RUNNER``: ``thread`` (default) or ``dask``.
* ``DPT_THREADS``: thread-pool size (default: CPU count + 4, at most 32, as Python's pools).
* ``DPT_DASK_ADDRESS``: connect to this running Dask scheduler (``tcp://host:8786``); its
  workers must have ``PREFECT_API_URL`` and the storage settings (S3 keys) in their env. The
  flow log then names the scheduler's dashboard (README, "Running on a cluster").
* ``DPT_DASK_WORKERS``: else start a local cluster of this many worker processes (default 2),
  one thread each; the flow's Prefect API URL (ephemeral server included) is passed to them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prefect.futures import PrefectFuture, wait
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner

RUNNER_ENV, THREADS_ENV = "DPT_TASK_RUNNER", "DPT_THREADS"
ADDRESS_ENV, WORKERS_ENV = "DPT_DASK_ADDRESS", "DPT_DASK_WORKERS"
DEFAULT_DASK_WORKERS = 2


class LocalDaskTaskRunner(DaskTaskRunner):
    """DaskTaskRunner whose local cluster's workers report to the flow's Prefect API.

    Without ``PREFECT_API_URL`` every worker process would start its own ephemeral server;
    the URL is taken from the running flow when the cluster starts (on the first submit).
    """

    @property
    def client(self):  # DaskTaskRunner.client, with the workers' env filled in first
        if self._client is None and self._cluster is None and not self.address:
            env = self.cluster_kwargs.setdefault("env", {})
            env.setdefault("PREFECT_API_URL", current_api_url())
        return super().client

    def duplicate(self) -> LocalDaskTaskRunner:
        return type(self)(cluster_kwargs=dict(self.cluster_kwargs))


def current_api_url() -> str:
    """The Prefect API this process talks to (the ephemeral server's too)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return str(client.api_url)


def dask_runner(workers: int = DEFAULT_DASK_WORKERS, address: str | None = None) -> TaskRunner:
    """Dask runner: connect to ``address``, or start ``workers`` local processes (1 thread each)."""
    if address:
        return DaskTaskRunner(address=address)
    if workers < 1:
        raise ValueError(f"dask workers must be >= 1, got {workers}")
    cluster_kwargs = {
        "n_workers": workers,
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": None,
    }
    return LocalDaskTaskRunner(cluster_kwargs=cluster_kwargs)


def _int_env(name: str, default: int | None) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def default_task_runner() -> TaskRunner:
    """The runner the environment asks for (see the module docstring); ValueError on typos."""
    kind = os.environ.get(RUNNER_ENV, "thread").strip().lower() or "thread"
    if kind == "thread":
        default = min(32, (os.cpu_count() or 1) + 4)
        return ThreadPoolTaskRunner(max_workers=_int_env(THREADS_ENV, default))
    if kind == "dask":
        workers = _int_env(WORKERS_ENV, DEFAULT_DASK_WORKERS) or DEFAULT_DASK_WORKERS
        return dask_runner(workers, os.environ.get(ADDRESS_ENV) or None)
    raise ValueError(f"{RUNNER_ENV} must be 'thread' or 'dask', got {kind!r}")


def describe_runner(runner: TaskRunner | None) -> str:
    """A short description of ``runner`` for the flow log."""
    if isinstance(runner, DaskTaskRunner):
        if runner.address:
            return f"dask (scheduler {runner.address})"
        return f"dask (local cluster, {runner.cluster_kwargs.get('n_workers')} workers)"
    if isinstance(runner, ThreadPoolTaskRunner):
        return f"thread pool ({runner._max_workers} threads)"
    return type(runner).__name__


def collect(futures: Iterable[PrefectFuture], what: str) -> list[Any]:
    """Results of all ``futures`` once every one has finished.

    RuntimeError listing each failed one (the others are committed; a re-run resumes).
    """
    futures = list(futures)
    wait(futures)
    results, errors = [], []
    for future in futures:
        state = future.state
        if state.is_completed():
            results.append(future.result())
        else:
            errors.append(f"{state.name}: {state.message}")
    if errors:
        raise RuntimeError(
            f"{len(errors)} of {len(futures)} {what} failed (re-run to resume): "
            + "; ".join(errors)
        )
    return results


def dask_dashboard(runner: TaskRunner | None) -> str | None:
    """Dashboard link of the running scheduler ``runner`` connects to (connecting now, so an
    unreachable scheduler fails here, at the flow's start); None for other runners."""
    if not isinstance(runner, DaskTaskRunner) or not runner.address:
        return None
    return runner.client.dashboard_link


def log_runner(logger: Any, flow_name: str) -> None:
    """Log which task runner the running flow uses (an explicit choice beats the env), and
    the Dask dashboard of a running scheduler it connects to."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    runner = context.task_runner if context is not None else None
    logger.info("%s: task runner %s", flow_name, describe_runner(runner))
    if isinstance(runner, DaskTaskRunner) and runner.address:
        logger.info("%s: Dask dashboard %s", flow_name, dask_dashboard(runner))
