"""All file I/O of dpt: fsspec URLs, atomic commits, stage markers and the failures log.

URLs: plain local paths, ``file://``, ``s3://``, ``memory://``.
Atomic commit: local and memory write a hidden ``.tmp-<uuid>-<name>`` in the destination folder
and rename it over the final name on a clean exit (removed on an exception). S3 streams a
multipart upload (``autocommit=False``) completed on a clean exit and aborted on an exception;
S3 makes the object visible atomically at completion, so there is no temp object and no copy
(give buckets an ``AbortIncompleteMultipartUpload`` lifecycle rule for killed writers).
Stage marker: ``<output>.done.json``, written last: input fingerprint and output size.
Failures log ``failures/STAGE/NAME.parquet``: atomic rewrite under a lock (``filelock`` file
``.NAME.parquet.lock`` on local disk, a thread lock elsewhere). S3 has no cross-process lock:
there, give each worker its own NAME (the shard name) or appends can be lost.
S3 settings, strongest first: ``url_to_fs`` storage_options, :func:`configure_s3`, environment
(``FSSPEC_S3_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``
/ ``AWS_SECRET_ACCESS_KEY``). The effective endpoint is logged once, secrets never.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import posixpath
import re
import threading
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

logger = logging.getLogger(__name__)

MARKER_SUFFIX = ".done.json"
TEMP_PREFIX = ".tmp-"
FAILURE_COLUMNS = ("key", "source", "stage", "reason", "detail", "time")
_FAILURE_SCHEMA = pa.schema([(name, pa.string()) for name in FAILURE_COLUMNS])
_ENDPOINT_ENV = ("FSSPEC_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_s3_config: dict[str, Any] = {}
_logged_s3: set[tuple[str, str, str]] = set()
_thread_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_thread_locks_guard = threading.Lock()


def redact(url: str) -> str:
    """``url`` with any ``user:password@`` part replaced by ``***@`` (safe to log)."""
    return re.sub(r"^([A-Za-z][\w+.-]*://)[^/@]*@", r"\1***@", url)


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
    layers = (("argument", storage_options), ("configure_s3", _s3_config))
    endpoint_from = next((n for n, layer in layers if layer.get("endpoint_url")), None)
    if endpoint_from is None:
        endpoint_from = next((env for env in _ENDPOINT_ENV if os.environ.get(env)), "AWS default")
        if endpoint_from in _ENDPOINT_ENV:
            opts["endpoint_url"] = os.environ[endpoint_from]
    creds_from = next((n for n, layer in layers if "key" in layer), "botocore chain (environment)")
    logged = (redact(str(opts.get("endpoint_url") or "AWS default")), endpoint_from, creds_from)
    if logged not in _logged_s3:
        _logged_s3.add(logged)
        logger.info("S3 endpoint %s (from %s); credentials from %s", *logged)
    return opts


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


def exists(url: str) -> bool:
    """Whether a file or folder exists at ``url``."""
    fs, path = url_to_fs(url)
    return fs.exists(path)


def ls(url: str) -> list[str]:
    """Sorted full URLs of the entries of folder ``url``, without in-flight temp files."""
    fs, path = url_to_fs(url)
    try:
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
        return int(fs.size(path))
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {redact(url)}") from None


def read_bytes(url: str) -> bytes:
    """Whole content of file ``url``; FileNotFoundError naming ``url`` when missing."""
    fs, path = url_to_fs(url)
    try:
        return fs.cat_file(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {redact(url)}") from None


@contextlib.contextmanager
def open_read(url: str) -> Iterator[BinaryIO]:
    """Binary read stream of file ``url``; FileNotFoundError naming ``url`` when missing."""
    fs, path = url_to_fs(url)
    try:
        stream = fs.open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {redact(url)}") from None
    with stream:
        yield stream


@contextlib.contextmanager
def _write_s3(fs: fsspec.AbstractFileSystem, path: str) -> Iterator[BinaryIO]:
    stream = fs.open(path, "wb", autocommit=False)
    try:
        yield stream
        stream.close()
        stream.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            stream.discard()  # aborts the multipart upload
        stream.closed = True  # closing would upload the discarded buffer
        raise


@contextlib.contextmanager
def _write_renamed(fs: fsspec.AbstractFileSystem, path: str) -> Iterator[BinaryIO]:
    parent, name = posixpath.split(path)
    fs.makedirs(parent, exist_ok=True)
    temp = posixpath.join(parent, f"{TEMP_PREFIX}{uuid.uuid4().hex}-{name}")
    local = isinstance(fs, LocalFileSystem)
    try:
        with fs.open(temp, "wb") as stream:
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


@contextlib.contextmanager
def open_atomic(url: str) -> Iterator[BinaryIO]:
    """Binary write stream to ``url``, committed on a clean exit, discarded on an exception."""
    fs, path = url_to_fs(url)
    with (_write_s3 if _is_s3(fs) else _write_renamed)(fs, path) as stream:
        yield stream


def write_bytes(url: str, data: bytes) -> None:
    """Write ``data`` to ``url`` atomically (parent folders are created)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError(f"write_bytes: data for {redact(url)} must be bytes, not {type(data)}")
    fs, path = url_to_fs(url)
    if _is_s3(fs):
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


def append_failures(root_url: str, stage: str, name: str, failures: list[Failure]) -> str:
    """Add ``failures`` to ``failures/STAGE/NAME.parquet`` once each; returns the log's URL.

    A failure equal to a logged one in key, source, stage and reason is skipped.
    """
    url = failures_url(root_url, stage, name)
    _check_failures(failures, stage)
    with _log_lock(url):
        table = _read_failure_table(url)
        columns = (
            [] if table is None else [table.column(c).to_pylist() for c in FAILURE_COLUMNS[:4]]
        )
        seen = set(zip(*columns, strict=True))
        rows = []
        for failure in failures:
            identity = (failure.key, failure.source, failure.stage, failure.reason)
            if identity not in seen:
                seen.add(identity)
                rows.append(dataclasses.asdict(failure))
        if not rows:
            return url
        new = pa.Table.from_pylist(rows, schema=_FAILURE_SCHEMA)
        with open_atomic(url) as stream:
            pq.write_table(new if table is None else pa.concat_tables([table, new]), stream)
    logger.info("%d new failures logged in %s", len(rows), redact(url))
    return url


def read_failures(root_url: str, stage: str, name: str) -> list[Failure]:
    """Rows of ``failures/STAGE/NAME.parquet`` in append order; [] when there is no log."""
    table = _read_failure_table(failures_url(root_url, stage, name))
    return [] if table is None else [Failure(**row) for row in table.to_pylist()]
