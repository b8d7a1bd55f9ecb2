"""Task runners: thread pool by default, Dask on request (env), explicit choice wins."""

from __future__ import annotations

import os

import pytest
from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner

from flows.runners import (
    LocalDaskTaskRunner,
    collect,
    dask_runner,
    default_task_runner,
    describe_runner,
)

ENV = ("DPT_TASK_RUNNER", "DPT_THREADS", "DPT_DASK_WORKERS", "DPT_DASK_ADDRESS")


@pytest.fixture
def env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_thread_pool_by_default(env):
    runner = default_task_runner()
    assert isinstance(runner, ThreadPoolTaskRunner)
    env.setenv("DPT_THREADS", "3")
    assert describe_runner(default_task_runner()) == "thread pool (3 threads)"


def test_dask_local_cluster_or_scheduler_address(env):
    env.setenv("DPT_TASK_RUNNER", "dask")
    env.setenv("DPT_DASK_WORKERS", "3")
    local = default_task_runner()
    assert isinstance(local, LocalDaskTaskRunner)
    assert local.cluster_kwargs["n_workers"] == 3
    assert local.cluster_kwargs["threads_per_worker"] == 1
    assert local.cluster_kwargs["dashboard_address"] is None
    assert describe_runner(local) == "dask (local cluster, 3 workers)"
    env.setenv("DPT_DASK_ADDRESS", "tcp://10.0.0.5:8786")
    remote = default_task_runner()
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://10.0.0.5:8786"
    assert describe_runner(remote) == "dask (scheduler tcp://10.0.0.5:8786)"


@pytest.mark.parametrize(
    ("name", "value"),
    [("DPT_TASK_RUNNER", "ray"), ("DPT_THREADS", "0"), ("DPT_THREADS", "many")],
)
def test_bad_environment_values_are_named(env, name, value):
    env.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        default_task_runner()


def test_bad_worker_count():
    with pytest.raises(ValueError, match="dask workers must be >= 1"):
        dask_runner(0)


@task
def _half(x: int) -> float:
    if x == 3:
        raise ValueError("three is odd here")
    return x / 2


@flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
def _halves(values: list[int]) -> list[float]:
    return collect(_half.map(values), "halves")


def test_collect_waits_for_all_and_names_the_failures(prefect_harness):
    assert _halves([2, 4]) == [1.0, 2.0]
    with pytest.raises(RuntimeError, match=r"1 of 3 halves failed.*three is odd here"):
        _halves([2, 3, 4])


@task
def _pid(x: int) -> tuple[int, int]:
    return x, os.getpid()


@flow
def _pids(n: int) -> list[tuple[int, int]]:
    return collect(_pid.map(range(n)), "pids")


def test_dask_workers_run_tasks_in_other_processes(prefect_harness):
    # The local cluster's worker processes report to this (harness) API, not their own.
    results = _pids.with_options(task_runner=dask_runner(2))(6)
    assert [x for x, _ in results] == list(range(6))
    assert os.getpid() not in {pid for _, pid in results}


def test_dashboard_of_a_running_scheduler():
    from distributed import LocalCluster

    from flows.runners import dask_dashboard

    with LocalCluster(
        n_workers=1, processes=False, protocol="tcp", host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:  # fmt: skip
        runner = DaskTaskRunner(address=cluster.scheduler_address)
        try:
            link = dask_dashboard(runner)
        finally:
            runner._exit_stack.close()
    assert link == cluster.dashboard_link and link.startswith("http://127.0.0.1:")
    assert dask_dashboard(dask_runner(2)) is None  # a local cluster: no scheduler to ask
    assert dask_dashboard(None) is None
