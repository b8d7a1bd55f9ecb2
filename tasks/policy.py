"""Shared task options: retries with backoff on transient storage and network errors, tags.

Every task that touches storage is built with :func:`storage_task`: up to ``STORAGE_RETRIES``
retries, exponential backoff (2, 4, 8 s, ±50 % jitter), but only when :func:`is_transient`
says a retry can help (a lost connection, a timeout, a 5xx or throttled S3 request); a missing
file or a bad argument fails at once. Prefect's own result cache is off (``NO_CACHE``): every
dpt_core stage already skips a shard whose committed output matches its input fingerprint,
which is the cache that survives processes and machines.

Tags name concurrency limits (``prefect concurrency-limit create gpu 1``): ``gpu`` for model
inference and training, ``io`` for shard writers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import ClientError as AiohttpClientError
from botocore.exceptions import BotoCoreError, ClientError
from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from prefect.states import State
from prefect.tasks import exponential_backoff

TAG_DPT, TAG_IO, TAG_GPU = "dpt", "io", "gpu"
STORAGE_RETRIES = 3
BACKOFF_FACTOR = 2.0
JITTER = 0.5
_PERMANENT = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
_RETRYABLE_S3_CODES = {"SlowDown", "Throttling", "RequestTimeout", "InternalError", "503", "500"}


def _s3_transient(exc: BaseException) -> bool:
    """botocore / aiohttp errors worth a retry: 5xx, throttling, lost connections."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code") in _RETRYABLE_S3_CODES or int(status or 0) >= 500
    return isinstance(exc, BotoCoreError | AiohttpClientError)


def is_transient(exc: BaseException | None) -> bool:
    """Whether a retry may cure ``exc``: network, timeout and storage I/O errors only."""
    if exc is None or isinstance(exc, _PERMANENT):
        return False
    return isinstance(exc, ConnectionError | TimeoutError | OSError) or _s3_transient(exc)


def retry_on_transient(task: Task, task_run: TaskRun, state: State) -> bool:
    """Prefect ``retry_condition_fn``: retry only failures whose exception is transient."""
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None:
        try:
            state.result(raise_on_failure=True)
        except BaseException as raised:  # classified below, not handled
            exc = raised
    return is_transient(exc)


def storage_task(
    name: str, tags: Iterable[str] = (), retries: int = STORAGE_RETRIES, **options: Any
) -> Callable[[Callable], Task]:
    """``@task`` with dpt's retry policy, tags ``dpt`` + ``tags`` and no Prefect result cache."""
    return task(
        name=name,
        tags=[TAG_DPT, *tags],
        retries=retries,
        retry_delay_seconds=exponential_backoff(backoff_factor=BACKOFF_FACTOR),
        retry_jitter_factor=JITTER,
        retry_condition_fn=retry_on_transient,
        cache_policy=NO_CACHE,
        **options,
    )


def run_logger(fallback: str = "dpt.flows") -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run logger inside a flow or task run, a plain logger outside (``.fn()``)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(fallback)
