"""URLs and filesystems: fsspec URLs (local, ``file://``, ``s3://``, ``memory://``), S3 settings,
reads and plain file operations.

S3 settings, strongest first: ``url_to_fs`` storage_options, :func:`configure_s3`, environment
(``FSSPEC_S3_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``
/ ``AWS_SECRET_ACCESS_KEY``). Requests are retried with backoff (:data:`S3_RETRIES`). The
effective endpoint and retries are logged once, secrets never.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import posixpath
import re
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

import fsspec

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

logger = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"
_ENDPOINT_ENV = ("FSSPEC_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
_RETRY_ENV = ("AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS")
S3_RETRIES = {"max_attempts": 10, "mode": "standard"}
"""botocore retries for every S3 request (throttling, 5xx, dropped connections), with
exponential backoff and jitter; ``storage_options`` / ``configure_s3`` ``config_kwargs``
with a ``retries`` entry replace it."""
_s3_config: dict[str, Any] = {}
_logged_s3: set[tuple[str, ...]] = set()


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
