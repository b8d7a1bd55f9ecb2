"""Retries with backoff on transient storage / network errors only; tags; no Prefect cache."""

from __future__ import annotations

import errno
from collections import Counter

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

import flows.precompute_textures as textures_flow
import tasks.textures
from tasks.data import write_shard_task
from tasks.policy import is_transient, retry_on_transient
from tasks.render import render_shard_task
from tasks.train import train_task


def _client_error(code: str, status: int) -> ClientError:
    response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "PutObject")


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (ConnectionResetError("reset by peer"), True),
        (TimeoutError("read timed out"), True),
        (OSError(errno.EIO, "I/O error"), True),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
        (_client_error("SlowDown", 503), True),
        (_client_error("InternalError", 500), True),
        (_client_error("AccessDenied", 403), False),
        (_client_error("NoSuchKey", 404), False),
        (FileNotFoundError("no such file: s3://b/k"), False),
        (PermissionError("denied"), False),
        (ValueError("bad label"), False),
        (RuntimeError("2 shard(s) failed"), False),
        (None, False),
    ],
)
def test_which_errors_are_retried(exc, transient):
    assert is_transient(exc) is transient
    state = Failed(data=exc) if exc is not None else Failed()
    assert retry_on_transient(None, None, state) is transient


def test_storage_tasks_carry_the_policy():
    for task in (write_shard_task, render_shard_task):
        assert task.retries == 3
        assert task.retry_delay_seconds == [2.0, 4.0, 8.0]  # exponential backoff, factor 2
        assert task.retry_jitter_factor == 0.5
        assert task.retry_condition_fn is retry_on_transient
        assert task.cache_policy is NO_CACHE
        assert {"dpt", "io"} <= set(task.tags)
    assert train_task.retries == 1 and "gpu" in train_task.tags  # a retry resumes the run


@pytest.fixture
def flaky_textures(monkeypatch):
    """Make the textures task fail once per shard with ``error``, then call the real one."""
    calls: Counter = Counter()

    def install(error: Exception | None) -> Counter:
        real = tasks.textures.precompute_textures_shard

        def flaky(root, dataset, index, *args):
            calls[index] += 1
            if error is not None and calls[index] == 1:
                raise error
            return real(root, dataset, index, *args)

        monkeypatch.setattr(tasks.textures, "precompute_textures_shard", flaky)
        fast = tasks.textures.precompute_textures_task.with_options(retry_delay_seconds=0)
        monkeypatch.setattr(textures_flow, "precompute_textures_task", fast)
        return calls

    return install


def test_a_transient_error_is_retried(demo_run, flaky_textures):
    calls = flaky_textures(ConnectionResetError("connection reset by peer"))
    result = textures_flow.precompute_textures_flow(demo_run["out"], n=16)
    assert (result["shards"], result["skipped"]) == (3, 3)
    assert calls == {0: 2, 1: 2, 2: 2}


def test_a_permanent_error_is_not_retried(demo_run, flaky_textures):
    calls = flaky_textures(FileNotFoundError("no such file: s3://bucket/x.tar"))
    with pytest.raises(RuntimeError, match=r"3 of 3 texture shards failed.*no such file"):
        textures_flow.precompute_textures_flow(demo_run["out"], n=16)
    assert calls == {0: 1, 1: 1, 2: 1}
