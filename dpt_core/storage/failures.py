"""The failures log ``failures/STAGE/NAME.parquet``: one row per rejected input, appended safely.

Atomic rewrite under a lock (``filelock`` file ``.NAME.parquet.lock`` on local disk, a thread
lock elsewhere); on S3, where no lock spans processes, a conditional PUT (If-Match the ETag
read) retried on conflict, so concurrent workers appending to one log lose no row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import posixpath
import random
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator

import filelock
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from dpt_core.storage.commit import _now_iso, open_atomic
from dpt_core.storage.urls import _check_url, _is_s3, _named, join, read_bytes, redact, url_to_fs

logger = logging.getLogger(__name__)

FAILURE_COLUMNS = ("key", "source", "stage", "reason", "detail", "time")
_FAILURE_SCHEMA = pa.schema([(name, pa.string()) for name in FAILURE_COLUMNS])
_APPEND_ATTEMPTS = 30
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_thread_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_thread_locks_guard = threading.Lock()


@dataclasses.dataclass
class Failure:
    """One rejected input: sample ``key``, its ``source``, the ``stage`` and ``reason``."""

    key: str
    source: str
    stage: str
    reason: str
    detail: str = ""
    time: str = dataclasses.field(default_factory=_now_iso)


def failures_url(root_url: str, stage: str, name: str) -> str:
    """URL of the failures log ``ROOT/failures/STAGE/NAME.parquet``."""
    for arg, value in (("stage", stage), ("name", name)):
        if not isinstance(value, str) or not _NAME_RE.match(value):
            raise ValueError(f"{arg} must be a plain name ([A-Za-z0-9_.-]), got {value!r}")
    return join(_check_url(root_url, "root_url"), "failures", stage, f"{name}.parquet")


def _check_failures(failures: list[Failure], stage: str) -> None:
    for failure in failures:
        if not isinstance(failure, Failure):
            raise ValueError(f"failures must hold Failure objects, got {type(failure).__name__}")
        bad = [c for c in FAILURE_COLUMNS if not isinstance(getattr(failure, c), str)]
        if bad:
            raise ValueError(f"Failure {failure.key!r}: fields {bad} must be strings")
        if failure.stage != stage:
            raise ValueError(f"Failure {failure.key!r} has stage {failure.stage!r}, not {stage!r}")


@contextlib.contextmanager
def _log_lock(url: str) -> Iterator[None]:
    with _thread_locks_guard:
        thread_lock = _thread_locks[url]
    fs, path = url_to_fs(url)
    with thread_lock:
        if not isinstance(fs, LocalFileSystem):
            yield
            return
        parent, name = posixpath.split(path)
        fs.makedirs(parent, exist_ok=True)
        with filelock.FileLock(posixpath.join(parent, f".{name}.lock"), timeout=600):
            yield


def _read_failure_table(url: str) -> pa.Table | None:
    try:
        table = pq.read_table(pa.BufferReader(read_bytes(url)))
    except FileNotFoundError:
        return None
    missing = [c for c in FAILURE_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"{redact(url)} is not a failures log: missing columns {missing}")
    return table.select(list(FAILURE_COLUMNS)).cast(_FAILURE_SCHEMA)


def _new_rows(table: pa.Table | None, failures: list[Failure]) -> list[dict[str, str]]:
    """Rows of ``failures`` not in ``table`` (nor repeated) by key, source, stage, reason."""
    columns = [] if table is None else [table.column(c).to_pylist() for c in FAILURE_COLUMNS[:4]]
    seen = set(zip(*columns, strict=True))
    rows = []
    for failure in failures:
        identity = (failure.key, failure.source, failure.stage, failure.reason)
        if identity not in seen:
            seen.add(identity)
            rows.append(dataclasses.asdict(failure))
    return rows


def _with_rows(table: pa.Table | None, rows: list[dict[str, str]]) -> pa.Table:
    new = pa.Table.from_pylist(rows, schema=_FAILURE_SCHEMA)
    return new if table is None else pa.concat_tables([table, new])


def _precondition_failed(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is S3's 412 PreconditionFailed."""
    while exc is not None:
        error = getattr(exc, "response", {}).get("Error", {})
        if error.get("Code") == "PreconditionFailed" or isinstance(exc, FileExistsError):
            return True
        exc = exc.__cause__
    return False


def _append_s3(url: str, failures: list[Failure]) -> int:
    """Read-modify-write of the log with a conditional PUT (If-Match the ETag read, or
    If-None-Match for a new log), retried on conflict: concurrent writers lose no row."""
    fs, path = url_to_fs(url)
    for attempt in range(_APPEND_ATTEMPTS):
        try:
            etag = fs.info(path)["ETag"]
            table = _read_failure_table(url)
        except FileNotFoundError:
            etag, table = None, None
        rows = _new_rows(table, failures)
        if not rows:
            return 0
        buffer = io.BytesIO()
        pq.write_table(_with_rows(table, rows), buffer)
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            with _named(fs, "append to", url):
                fs.pipe_file(path, buffer.getvalue(), **condition)
            return len(rows)
        except (OSError, FileNotFoundError) as exc:
            if not (_precondition_failed(exc) or isinstance(exc, FileNotFoundError)):
                raise
            logger.debug("%s changed while appending (attempt %d): retry", redact(url), attempt)
            time.sleep(random.uniform(0.02, 0.1) * (attempt + 1))
    raise OSError(f"append to {redact(url)}: still conflicting after {_APPEND_ATTEMPTS} tries")


def append_failures(root_url: str, stage: str, name: str, failures: list[Failure]) -> str:
    """Add ``failures`` to ``failures/STAGE/NAME.parquet`` once each; returns the log's URL.

    A failure equal to a logged one in key, source, stage and reason is skipped. Concurrent
    appends lose nothing: a file lock on local disk, conditional writes on S3.
    """
    url = failures_url(root_url, stage, name)
    _check_failures(failures, stage)
    fs, _ = url_to_fs(url)
    with _log_lock(url):
        if _is_s3(fs):
            added = _append_s3(url, failures)
        else:
            table = _read_failure_table(url)
            rows = _new_rows(table, failures)
            if rows:
                with open_atomic(url) as stream:
                    pq.write_table(_with_rows(table, rows), stream)
            added = len(rows)
    if added:
        logger.info("%d new failures logged in %s", added, redact(url))
    return url


def read_failures(root_url: str, stage: str, name: str) -> list[Failure]:
    """Rows of ``failures/STAGE/NAME.parquet`` in append order; [] when there is no log."""
    table = _read_failure_table(failures_url(root_url, stage, name))
    return [] if table is None else [Failure(**row) for row in table.to_pylist()]
