"""What every dataset layout yields, the sample-key rule, and a sorted file walk on fsspec.

A layout turns a source tree into :class:`SourceSample` records (one per image, sorted by
source path) or :class:`Rejected` records for inputs it cannot name. Nothing is decoded here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from dpt_core import storage

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {"jpg", "jpeg", "png", "bmp", "gif", "tif", "tiff", "webp", "ppm", "pgm", "pbm"}
)
KEY_SEPARATOR = "__"
MAX_KEY_LENGTH = 200
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class SourceSample:
    """One input sample: its key, image URL and labels; ``extras`` maps member ext -> URL."""

    key: str
    url: str
    size: int  # bytes of the image plus extras, for shard planning
    version: str = ""  # ETag / mtime token of the image, for fingerprints
    person_id: str | None = None
    view: str | None = None
    camera: int | None = None
    split: str | None = None
    flags: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejected:
    """An input a layout cannot turn into a sample (bad name, missing file, ...)."""

    source: str
    reason: str
    detail: str = ""
    key: str = ""


@dataclass(frozen=True)
class FileEntry:
    """A file under a source root: path relative to the root, its URL, size and version."""

    rel: str
    url: str
    size: int
    version: str


class Layout(Protocol):
    """A dataset layout: ``scan(src_url)`` yields samples/rejections sorted by source path."""

    name: str
    default_size: tuple[int, int] | None  # target (height, width) when the user gives none
    carries_extras: bool  # extra members are stored as-is, so images must not be resized

    def scan(self, src_url: str) -> Iterator[SourceSample | Rejected]: ...


def check_name(name: str) -> None:
    """ValueError if a file name cannot be a key part: undecodable bytes or control chars."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"file name is not valid UTF-8: {name!r}") from exc
    if _CONTROL_CHARS.search(name):
        raise ValueError(f"file name has control characters: {name!r}")
    if not name.strip():
        raise ValueError(f"empty file name part: {name!r}")


def make_key(parts: Sequence[str]) -> str:
    """Sample key from path parts (last one without its extension).

    Dots and any character outside ``[A-Za-z0-9_-]`` become ``_``; parts are joined by
    ``__``. ValueError for unreadable names, keys starting with ``__`` or over 200 chars.
    """
    if not parts:
        raise ValueError("no path parts to make a key from")
    for part in parts:
        check_name(part)
    key = KEY_SEPARATOR.join(_UNSAFE_CHARS.sub("_", part) for part in parts)
    if key.startswith("__"):
        raise ValueError(f"key {key!r} would start with '__' (reserved by WebDataset)")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"key longer than {MAX_KEY_LENGTH} characters: {key[:40]!r}...")
    return key


def split_ext(filename: str) -> tuple[str, str]:
    """``"a.b.JPG" -> ("a.b", "jpg")``; no extension gives ``(filename, "")``."""
    stem, dot, ext = filename.rpartition(".")
    return (stem, ext.lower()) if dot and stem else (filename, "")


def _version(info: dict[str, Any]) -> str:
    for field_name in ("ETag", "etag", "mtime", "LastModified", "last_modified", "created"):
        if info.get(field_name) is not None:
            return str(info[field_name])
    return ""


def walk_files(src_url: str, under: str = "") -> Iterator[FileEntry]:
    """Every file below ``src_url/under``, sorted by relative path (one listing call).

    FileNotFoundError naming the folder when it does not exist.
    """
    root_url = storage.join(src_url, under) if under else src_url
    fs, root_path = storage.url_to_fs(root_url)
    if not fs.isdir(root_path):
        raise FileNotFoundError(f"no such folder: {root_url}")
    found = fs.find(root_path, detail=True)
    prefix = root_path.rstrip("/") + "/"
    entries = []
    for path, info in found.items():
        if info.get("type", "file") != "file" or not path.startswith(prefix):
            continue
        rel = path[len(prefix) :]
        rel_to_src = f"{under.strip('/')}/{rel}" if under else rel
        entries.append((rel_to_src, int(info.get("size") or 0), _version(info)))
    for rel, size, version in sorted(entries):
        yield FileEntry(rel, storage.join(src_url, *rel.split("/")), size, version)


def image_entries(src_url: str, under: str = "") -> Iterator[FileEntry]:
    """:func:`walk_files` restricted to image extensions (others are logged and skipped)."""
    skipped = 0
    for entry in walk_files(src_url, under):
        if split_ext(entry.rel.rsplit("/", 1)[-1])[1] in IMAGE_EXTENSIONS:
            yield entry
        else:
            skipped += 1
    if skipped:
        logger.info("%s: skipped %d files without an image extension", src_url, skipped)


def key_or_rejected(entry: FileEntry, parts: Sequence[str]) -> str | Rejected:
    """The key for ``parts`` or a ``bad_name`` rejection for ``entry``."""
    try:
        return make_key(parts)
    except ValueError as exc:
        return Rejected(entry.url, "bad_name", str(exc))
