"""Atomic commit and stage markers: atomic writes, input fingerprints, ``<output>.done.json``.

Atomic commit: local and memory write a hidden ``.tmp-<uuid>-<name>`` in the destination folder
and rename it over the final name on a clean exit (removed on an exception). S3 streams a
multipart upload (``autocommit=False``) completed on a clean exit and aborted on an exception;
S3 makes the object visible atomically at completion, so there is no temp object and no copy
(give buckets an ``AbortIncompleteMultipartUpload`` lifecycle rule for killed writers).
Stage marker: ``<output>.done.json``, written last: input fingerprint and output size.
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
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

import fsspec
import numpy as np
from fsspec.implementations.local import LocalFileSystem

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from dpt_core.storage.urls import (
    TEMP_PREFIX,
    _check_url,
    _is_s3,
    _named,
    _NamedStream,
    join,
    read_bytes,
    redact,
    size,
    url_to_fs,
)

logger = logging.getLogger(__name__)

MARKER_SUFFIX = ".done.json"


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
