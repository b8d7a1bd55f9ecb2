"""Prefect's own cost, shared by the benchmarks: seconds per task, API calls, database growth.

* :func:`task_overhead`: median seconds per task of a flow mapping no-op tasks.
* :func:`flow_footprint`: what one flow run leaves and sends: HTTP API calls made by this
  process, task runs, rows and bytes added to the Prefect database (SQLite of the test
  harness: pages in use).

Both need a running API (``prefect_test_harness``). Names of this module's tasks are plain so
that Dask workers can import it (the benchmarks folder is on their ``sys.path``).
"""

from __future__ import annotations

import contextlib
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator

import httpx
from prefect import flow, task
from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL
from prefect.task_runners import TaskRunner

NO_OP_TASKS = 64
TABLES = ("flow_run", "task_run", "task_run_state", "log", "artifact", "events")


@task
def _no_op(x: int) -> int:
    return x


@flow
def _no_ops(n: int) -> float:
    """Seconds to map ``n`` no-op tasks and collect them, inside one flow run."""
    started = time.perf_counter()
    assert [f.result() for f in _no_op.map(range(n))] == list(range(n))
    return time.perf_counter() - started


def task_overhead(make_runner: Callable[[], TaskRunner], repeats: int) -> float:
    """Median seconds per task of mapping NO_OP_TASKS no-op tasks (submit, run, states)."""
    runs = [_no_ops.with_options(task_runner=make_runner())(NO_OP_TASKS) for _ in range(repeats)]
    return statistics.median(runs) / NO_OP_TASKS


@contextlib.contextmanager
def count_api_calls() -> Iterator[list[int]]:
    """Counts the HTTP requests of every httpx client of this process: ``[count]``."""
    count, sync_send, async_send = [0], httpx.Client.send, httpx.AsyncClient.send

    def send(self, *args, **kwargs):
        count[0] += 1
        return sync_send(self, *args, **kwargs)

    async def asend(self, *args, **kwargs):
        count[0] += 1
        return await async_send(self, *args, **kwargs)

    httpx.Client.send, httpx.AsyncClient.send = send, asend  # type: ignore[method-assign]
    try:
        yield count
    finally:
        httpx.Client.send, httpx.AsyncClient.send = sync_send, async_send  # type: ignore[method-assign]


def database_path() -> str:
    """File of the SQLite database the Prefect server uses (the harness's temporary one)."""
    url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value() or ""
    if "sqlite" not in url:
        raise ValueError(f"not a SQLite Prefect database: {url!r}")
    return url.split(":///", 1)[1]


def database_state(path: str) -> dict[str, int]:
    """Bytes in use in the database (pages not free, after a passive WAL checkpoint) and the
    rows of the tables in TABLES."""
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        pages, free, size = (db.execute(f"PRAGMA {p}").fetchone()[0]
                             for p in ("page_count", "freelist_count", "page_size"))  # fmt: skip
        rows = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    return {"bytes": (pages - free) * size, **rows}


def flow_footprint(run: Callable[[], object], settle_s: float = 3.0) -> dict[str, int]:
    """API calls of ``run()`` and what it added to the database (rows per table, bytes).

    Task runs and events reach the database asynchronously: it is read, before and after,
    once it stops changing.
    """
    path = database_path()
    before = settled_state(path, settle_s)
    with count_api_calls() as calls:
        run()
    after = settled_state(path, settle_s)
    return {"api_calls": calls[0], **{k: after[k] - before[k] for k in after}}


def settled_state(path: str, settle_s: float) -> dict[str, int]:
    """:func:`database_state` once two reads ``settle_s`` apart agree."""
    state, previous = database_state(path), None
    while state != previous:
        time.sleep(settle_s)
        previous, state = state, database_state(path)
    return state
