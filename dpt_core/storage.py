"""All file I/O of dpt: fsspec URLs, atomic commits, stage markers and the failures log.

URLs: plain local paths, ``file://``, ``s3://``, ``memory://``.
Atomic commit: local and memory write a hidden ``.tmp-<uuid>-<name>`` in the destination folder
and rename it over the final name on a clean exit (removed on an exception). S3 streams a
multipart upload (``autocommit=False``) completed on a clean exit and aborted on an exception;
S3 makes the object visible atomically at completion, so there is no temp object and no copy
(give buckets an ``AbortIncompleteMultipartUpload`` lifecycle rule for killed writers).
Stage marker: ``<output>.done.json``, written last: input fingerprint and output size.
Failures log ``failures/STAGE/NAME.parquet``: atomic rewrite under a lock (``filelock`` file
``.NAME.parquet.lock`` on local disk, a thread lock elsewhere); on S3, where no lock spans
processes, a conditional PUT (If-Match the ETag read) retried on conflict, so concurrent
workers appending to one log lose no row.
S3 settings, strongest first: ``url_to_fs`` storage_options, :func:`configure_s3`, environment
(``FSSPEC_S3_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``
/ ``AWS_SECRET_ACCESS_KEY``). Requests are retried with backoff (:data:`S3_RETRIES`). The
effective endpoint and retries are logged once, secrets never.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import json
import logging
import os
import posixpath
import random
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

import filelock
import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

logger = logging.getLogger(__name__)

MARKER_SUFFIX = ".done.json"
TEMP_PREFIX = ".tmp-"
FAILURE_COLUMNS = ("key", "source", "stage", "reason", "detail", "time")
_FAILURE_SCHEMA = pa.schema([(name, pa.string()) for name in FAILURE_COLUMNS])
_APPEND_ATTEMPTS = 30
_ENDPOINT_ENV = ("FSSPEC_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
_RETRY_ENV = ("AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS")
S3_RETRIES = {"max_attempts": 10, "mode": "standard"}
"""botocore retries for every S3 request (throttling, 5xx, dropped connections), with
exponential backoff and jitter; ``storage_options`` / ``configure_s3`` ``config_kwargs``
with a ``retries`` entry replace it."""
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_s3_config: dict[str, Any] = {}
_logged_s3: set[tuple[str, ...]] = set()
_thread_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_thread_locks_guard = threading.Lock()


def redact(url: str) -> str:
    """``url`` (or a message holding URLs) with every ``user:password@`` part of a URL
    replaced by ``***@`` (safe to log or record)."""
    return re.sub(r"\b([A-Za-z][\w+.-]*://)[^/@\s'\"]*@", r"\1***@", url)


def _check_url(url: object, name: str = "url") -> str:
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if not isinstance(url, str) or not url:
        raise ValueError(f"{name} must be a non-empty string or path, got {type(url).__name__}")
    return url


def configure_s3(
    endpoint_url: str | None = None, key: str | None = None, secret: str | None = None, **options
) -> None:
    """Set process-wide S3 options (beat the environment, lose to ``storage_options``).

    ``options`` go to ``s3fs.S3FileSystem`` as they are; no argument clears them. The setting
    is per process: worker processes take theirs from the environment.
    """
    if (key is None) != (secret is None):
        raise ValueError("configure_s3: give both key and secret, or neither")
    config = dict(options)
    if endpoint_url:
        config["endpoint_url"] = endpoint_url
    if key is not None:
        config.update(key=key, secret=secret)
    _s3_config.clear()
    _s3_config.update(config)


def _s3_options(storage_options: Mapping[str, Any]) -> dict[str, Any]:
    """Effective s3fs options, with the endpoint resolved and logged (never the secret)."""
    if ("key" in storage_options) != ("secret" in storage_options):
        raise ValueError("storage_options: give both 'key' and 'secret', or neither")
    opts = {"use_listings_cache": False, **_s3_config, **storage_options}
    opts["config_kwargs"] = _with_retries(opts.get("config_kwargs"))
    layers = (("argument", storage_options), ("configure_s3", _s3_config))
    endpoint_from = next((n for n, layer in layers if layer.get("endpoint_url")), None)
    if endpoint_from is None:
        endpoint_from = next((env for env in _ENDPOINT_ENV if os.environ.get(env)), "AWS default")
        if endpoint_from in _ENDPOINT_ENV:
            opts["endpoint_url"] = os.environ[endpoint_from]
    creds_from = next((n for n, layer in layers if "key" in layer), "botocore chain (environment)")
    retries = json.dumps(opts["config_kwargs"].get("retries", "botocore environment"))
    logged = (redact(str(opts.get("endpoint_url") or "AWS default")), endpoint_from, creds_from,
              retries)  # fmt: skip
    if logged not in _logged_s3:
        _logged_s3.add(logged)
        logger.info("S3 endpoint %s (from %s); credentials from %s; retries %s", *logged)
    return opts


def _with_retries(config_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """botocore ``Config`` arguments with :data:`S3_RETRIES` unless retries are set already
    (in ``config_kwargs``, or by ``AWS_RETRY_MODE`` / ``AWS_MAX_ATTEMPTS``)."""
    config = dict(config_kwargs or {})
    if "retries" not in config and not any(os.environ.get(v) for v in _RETRY_ENV):
        config["retries"] = dict(S3_RETRIES)
    return config


def url_to_fs(url: str, **storage_options: Any) -> tuple[fsspec.AbstractFileSystem, str]:
    """(filesystem, path inside it) for a local path or an fsspec URL."""
    url = _check_url(url)
    protocol = fsspec.core.split_protocol(url)[0]
    if protocol in ("s3", "s3a"):
        storage_options = _s3_options(storage_options)
    try:
        return fsspec.core.url_to_fs(url, **storage_options)
    except (ValueError, ImportError) as err:
        raise ValueError(f"unsupported storage URL {redact(url)!r}: {err}") from None


def _is_s3(fs: fsspec.AbstractFileSystem) -> bool:
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol
    return "s3" in protocols


def join(url: str, *parts: str) -> str:
    """``url`` extended by ``/``-separated ``parts``; empty parts and ``..`` are refused."""
    base = _check_url(url)
    segments: list[str] = []
    for part in parts:
        pieces = [p for p in str(part).split("/") if p not in ("", ".")]
        if not pieces or ".." in pieces:
            raise ValueError(f"join: bad path part {part!r} for {redact(base)!r}")
        segments.extend(pieces)
    if not segments:
        return base
    return (base if base.endswith("/") else base + "/") + "/".join(segments)


@contextlib.contextmanager
def _named(fs: fsspec.AbstractFileSystem, action: str, url: str) -> Iterator[None]:
    """Name ``url`` in S3 errors that survived the retries (s3fs's messages do not).

    An OSError is raised again as the same type (errno kept) with the URL in its message;
    other errors (botocore's lost connections) get the URL as a note.
    """
    try:
        yield
    except FileNotFoundError:
        raise
    except OSError as exc:
        if not _is_s3(fs) or redact(url) in str(exc):
            raise
        message = f"{action} {redact(url)} failed after retries: {exc.strerror or exc}"
        try:
            named = type(exc)(exc.errno, message) if exc.errno else type(exc)(message)
        except Exception:  # an OSError subclass with another signature
            raise exc from None
        raise named from exc
    except Exception as exc:
        if _is_s3(fs):
            exc.add_note(f"{action} {redact(url)} failed after retries")
        raise


class _NamedStream:
    """A write stream whose failing writes (S3 part uploads) name the destination URL."""

    def __init__(self, stream: BinaryIO, fs: fsspec.AbstractFileSystem, url: str) -> None:
        self._stream, self._fs, self._url = stream, fs, url

    def write(self, data: Any) -> int:
        with _named(self._fs, "write", self._url):
            return self._stream.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def exists(url: str) -> bool:
    """Whether a file or folder exists at ``url``."""
    fs, path = url_to_fs(url)
    with _named(fs, "exists", url):
        return fs.exists(path)


def ls(url: str) -> list[str]:
    """Sorted full URLs of the entries of folder ``url``, without in-flight temp files."""
    fs, path = url_to_fs(url)
    try:
        with _named(fs, "list", url):
            entries = fs.ls(path, detail=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such folder: {redact(url)}") from None
    names = {posixpath.basename(e.rstrip("/")) for e in entries}
    if len(entries) == 1 and fs.isfile(path):
        raise NotADirectoryError(f"not a folder: {redact(url)}")
    return sorted(join(url, n) for n in names if n and not n.startswith(TEMP_PREFIX))


def makedirs(url: str) -> None:
    """Create folder ``url`` and its parents (a no-op on S3, which has no folders)."""
    fs, path = url_to_fs(url)
    if not _is_s3(fs):
        fs.makedirs(path, exist_ok=True)


def size(url: str) -> int:
    """Size of file ``url`` in bytes."""
    fs, path = url_to_fs(url)
    try:
        with _named(fs, "size of", url):
            return int(fs.size(path))
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {redact(url)}") from None


def read_bytes(url: str) -> bytes:
    """Whole content of file ``url``; FileNotFoundError naming ``url`` when missing."""
    fs, path = url_to_fs(url)
    try:
        with _named(fs, "read", url):
            return fs.cat_file(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {redact(url)}") from None


@contextlib.contextmanager
def open_read(url: str) -> Iterator[BinaryIO]:
    """Binary read stream of file ``url``; FileNotFoundError naming ``url`` when missing."""
    fs, path = url_to_fs(url)
    try:
        with _named(fs, "open", url):
            stream = fs.open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {redact(url)}") from None
    with stream:
        yield stream


def sha256(url: str) -> str:
    """Hex sha256 of the stored file at ``url``, streamed in 4 MiB blocks."""
    digest = hashlib.sha256()
    with open_read(url) as stream:
        for block in iter(lambda: stream.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _write_s3(fs: fsspec.AbstractFileSystem, path: str, url: str) -> Iterator[BinaryIO]:
    with _named(fs, "write", url):
        stream = fs.open(path, "wb", autocommit=False)
    try:
        yield _NamedStream(stream, fs, url)
        with _named(fs, "write", url):
            stream.close()
            stream.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            stream.discard()  # aborts the multipart upload
        stream.closed = True  # closing would upload the discarded buffer
        raise


@contextlib.contextmanager
def _write_renamed(fs: fsspec.AbstractFileSystem, path: str, url: str) -> Iterator[BinaryIO]:
    parent, name = posixpath.split(path)
    fs.makedirs(parent, exist_ok=True)
    temp = posixpath.join(parent, f"{TEMP_PREFIX}{uuid.uuid4().hex}-{name}")
    local = isinstance(fs, LocalFileSystem)
    try:
        with fs.open(temp, "wb") as stream:
            if local and fcntl is not None:  # marks the temp file as in use (remove_stale_temps)
                fcntl.flock(stream.fileno(), fcntl.LOCK_SH)
            yield stream
            if local:
                stream.flush()
                os.fsync(stream.fileno())
        if local:
            os.replace(temp, path)
        else:
            fs.mv(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            fs.rm_file(temp)
        raise


def _remove_unless_in_use(path: str) -> bool:
    """Remove local temp file ``path`` unless a live writer holds it; True if removed."""
    if fcntl is None:  # pragma: no cover - no flock (Windows): keep what may be in use
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # a writer in another process (or thread) is still writing it
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return True
    finally:
        os.close(fd)


def remove_stale_temps(folder_url: str) -> list[str]:
    """Remove the temp files a killed writer left in ``folder_url``; returns their URLs.

    On local disk a temp file still being written (by a concurrent run) is kept: writers
    hold a shared ``flock`` on it. S3 has no temp files (see the module docstring).
    """
    fs, path = url_to_fs(folder_url)
    if _is_s3(fs) or not fs.isdir(path):
        return []
    removed = []
    for entry in fs.ls(path, detail=False):
        name = posixpath.basename(entry.rstrip("/"))
        if not name.startswith(TEMP_PREFIX):
            continue
        if isinstance(fs, LocalFileSystem):
            gone = _remove_unless_in_use(entry)
        else:
            with contextlib.suppress(FileNotFoundError):
                fs.rm_file(entry)
            gone = True
        if gone:
            removed.append(join(folder_url, name))
    return removed


@contextlib.contextmanager
def open_atomic(url: str) -> Iterator[BinaryIO]:
    """Binary write stream to ``url``, committed on a clean exit, discarded on an exception."""
    fs, path = url_to_fs(url)
    with (_write_s3 if _is_s3(fs) else _write_renamed)(fs, path, url) as stream:
        yield stream


def write_bytes(url: str, data: bytes) -> None:
    """Write ``data`` to ``url`` atomically (parent folders are created)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError(f"write_bytes: data for {redact(url)} must be bytes, not {type(data)}")
    fs, path = url_to_fs(url)
    if _is_s3(fs):
        with _named(fs, "write", url):
            fs.pipe_file(path, bytes(data))  # one PutObject (multipart when large): atomic
        return
    with open_atomic(url) as stream:
        stream.write(data)


def _canonical(obj: object) -> object:
    """JSON-ready form of ``obj`` for :func:`fingerprint`."""
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, bytes | bytearray | memoryview):
        return {"$bytes": hashlib.sha256(obj).hexdigest()}
    if isinstance(obj, np.ndarray):
        data = np.ascontiguousarray(obj).tobytes()
        return {"$array": [obj.dtype.str, list(obj.shape), hashlib.sha256(data).hexdigest()]}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, Mapping):
        if not all(isinstance(k, str) for k in obj):
            raise ValueError("fingerprint: mapping keys must be strings")
        return {k: _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _canonical(dataclasses.asdict(obj))
    raise ValueError(f"fingerprint: cannot hash a {type(obj).__name__}")


def fingerprint(*parts: object) -> str:
    """sha256 hex of ``json.dumps([parts...], sort_keys=True, separators=(",", ":"))``.

    Bytes become ``{"$bytes": sha256 hex of the bytes}``, arrays ``{"$array": [dtype, shape,
    sha256 of the data]}``, tuples lists, paths strings, dataclasses dicts.
    """
    text = json.dumps(
        [_canonical(p) for p in parts], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def marker_url(output_url: str) -> str:
    """URL of the stage marker of ``output_url``: ``<output>.done.json``."""
    return _check_url(output_url, "output_url") + MARKER_SUFFIX


def read_marker(output_url: str) -> dict[str, Any] | None:
    """The marker of ``output_url`` as a dict, or None when missing or unreadable."""
    try:
        marker = json.loads(read_bytes(marker_url(output_url)))
    except FileNotFoundError:
        return None
    except ValueError:
        marker = None
    if not isinstance(marker, dict) or not {"fingerprint", "size"} <= marker.keys():
        logger.warning("unreadable stage marker for %s: redo", redact(output_url))
        return None
    return marker


def _check_fingerprint(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"fingerprint must be a non-empty string, got {value!r}")
    return value


def is_committed(output_url: str, fingerprint: str) -> bool:
    """True when ``output_url``'s marker has ``fingerprint`` and the output has its size."""
    _check_fingerprint(fingerprint)
    marker = read_marker(output_url)
    if marker is None:
        return False
    if marker["fingerprint"] != fingerprint:
        logger.info("%s: input fingerprint changed: redo", redact(output_url))
        return False
    try:
        actual = size(output_url)
    except FileNotFoundError:
        logger.info("%s: marker without output: redo", redact(output_url))
        return False
    if actual != marker["size"]:
        logger.info("%s: size %d, marker says %s: redo", redact(output_url), actual, marker["size"])
        return False
    return True


def mark_committed(output_url: str, fingerprint: str, **info: Any) -> None:
    """Write ``output_url``'s marker (fingerprint, size, time, ``info``); call it last."""
    _check_fingerprint(fingerprint)
    try:
        nbytes = size(output_url)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"cannot mark missing output committed: {redact(output_url)}"
        ) from None
    marker = {"fingerprint": fingerprint, "size": nbytes, "time": _now_iso(), "info": info}
    try:
        data = json.dumps(marker, sort_keys=True, indent=1).encode("utf-8")
    except TypeError as err:
        raise ValueError(f"mark_committed: info is not JSON-serialisable: {err}") from None
    write_bytes(marker_url(output_url), data)


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


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
