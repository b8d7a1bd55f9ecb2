"""WebDataset tar shards and Parquet manifests on any fsspec storage.

A shard is a plain tar of members ``KEY.EXT`` (WebDataset convention: the key is the member's
basename up to its first dot). Tars are deterministic: members sorted by key then extension,
fixed mtime/uid/gid/mode, ustar headers (PAX only where a name needs it), so the same samples
give byte-identical shards (the member bytes: :mod:`dpt_core.data.tar_format`). Every write is
atomic through :mod:`dpt_core.storage`.
"""

from __future__ import annotations

import importlib
import io
import logging
import re
import tarfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from dpt_core import storage
from dpt_core.data.tar_format import HashingWriter, Sample, member_bytes, ordered, sample_members

logger = logging.getLogger(__name__)

MAX_MEMBER_BYTES = 1 << 30  # a member is read into memory whole: larger ones are refused
_SHARD_RE = re.compile(r"^[^/]+-\d{5,}\.tar$")
_MEMBER_RE = re.compile(r"^((?:.*/)?[^./]+)\.([^/]+)$")
_FSSPEC_SCHEMES = ("s3", "s3a", "gcs", "abfs", "az", "memory")


@dataclass(frozen=True)
class ShardInfo:
    """A written shard: its URL, sample count, size in bytes and sha256 of the tar."""

    url: str
    count: int
    nbytes: int
    sha256: str


def shard_name(name: str, index: int) -> str:
    """Zero-padded shard stem, e.g. ``shard_name("studio", 3) == "studio-00003"``."""
    if not name or "/" in name:
        raise ValueError(f"name must be non-empty without '/', got {name!r}")
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    return f"{name}-{index:05d}"


def shard_index(shard_url: str) -> int:
    """``.../NAME-00012.tar`` -> 12 (the inverse of ``shard_name``)."""
    return int(shard_url.rsplit("-", 1)[-1].removesuffix(".tar"))


def shard_manifest_url(shard_url: str) -> str:
    """The Parquet manifest beside a shard: ``.../NAME-00000.tar`` -> ``.../NAME-00000.parquet``."""
    if not shard_url.endswith(".tar"):
        raise ValueError(f"shard_url must end with .tar, got {shard_url!r}")
    return shard_url[: -len(".tar")] + ".parquet"


def shard_urls(prefix_url: str) -> list[str]:
    """Sorted ``NAME-NNNNN.tar`` URLs in the folder ``prefix_url`` (temp files excluded)."""
    if not storage.exists(prefix_url):
        raise FileNotFoundError(f"no shard folder at {prefix_url}")
    return sorted(
        u for u in storage.ls(prefix_url) if _SHARD_RE.match(u.rstrip("/").rsplit("/", 1)[-1])
    )


def run_each_shard(shard_urls: Sequence[str], work: Callable[[str], dict]) -> list[dict]:
    """``work(url)`` for every shard, in order; a shard that fails (corrupt tar, storage down)
    does not stop the others: once all ran, one RuntimeError names every failed shard (a
    re-run resumes from the committed ones). Returns the summaries in shard order."""
    summaries, errors = [], []
    for url in shard_urls:
        try:
            summaries.append(work(url))
        except (ValueError, OSError) as exc:
            logger.error("shard %s failed: %s", url, exc)
            errors.append(f"{url}: {type(exc).__name__}: {exc}")
    if errors:
        raise RuntimeError(f"{len(errors)} shard(s) failed (re-run to resume): {'; '.join(errors)}")
    return summaries


def write_shard(shard_url: str, samples: Iterable[Sample]) -> ShardInfo:
    """Write samples ``{"__key__": KEY, EXT: bytes|str, ...}`` as a deterministic tar.

    A list is sorted by key; an iterator must yield keys in increasing order (it is streamed,
    never held in memory). The tar is committed atomically; on error nothing is left behind.
    The bytes equal what ``tarfile`` writes for the same members.
    """
    count = 0
    with storage.open_atomic(shard_url) as sink:
        out = HashingWriter(sink)
        for sample in ordered(shard_url, samples):
            for name, data in sample_members(shard_url, sample):
                for block in member_bytes(name, data):
                    out.write(block)
            count += 1
        out.write(tarfile.NUL * (2 * tarfile.BLOCKSIZE))  # end-of-archive marker
        out.write(tarfile.NUL * (-out.nbytes % tarfile.RECORDSIZE))
    info = ShardInfo(shard_url, count, out.nbytes, out.digest.hexdigest())
    logger.debug("wrote %s: %d samples, %d bytes", shard_url, count, info.nbytes)
    return info


def _check_member(shard_url: str, member: tarfile.TarInfo) -> None:
    name = member.name
    if member.size > MAX_MEMBER_BYTES:
        raise ValueError(f"{shard_url}: member {name!r} of {member.size} bytes is over the limit")
    if name.startswith("/") or ".." in name.split("/"):
        raise ValueError(f"{shard_url}: unsafe member path {name!r}")
    if member.issym() or member.islnk():
        raise ValueError(f"{shard_url}: link member {name!r} refused")
    if member.isdev():
        raise ValueError(f"{shard_url}: device member {name!r} refused")


def _iter_members(shard_url: str, tar: tarfile.TarFile) -> Iterator[tuple[str, str, bytes]]:
    for member in tar:
        _check_member(shard_url, member)
        if not member.isfile():
            continue
        match = _MEMBER_RE.match(member.name)
        if match is None:
            logger.warning("%s: member %r has no extension; skipped", shard_url, member.name)
            continue
        extracted = tar.extractfile(member)
        data = extracted.read() if extracted is not None else b""
        yield match.group(1), match.group(2), data


def iter_shard(shard_url: str) -> Iterator[dict[str, bytes | str]]:
    """Samples of a shard in order: ``{"__key__": KEY, EXT: bytes, ...}`` (all values bytes).

    Raises ValueError naming the shard for absolute or ``..`` paths, links, devices, members
    over ``MAX_MEMBER_BYTES``, and for anything but a plain tar (compressed streams are refused
    unread: no decompression bombs) or a corrupt one.
    """
    with storage.open_read(shard_url) as stream:
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                yield from _group_samples(shard_url, _iter_members(shard_url, tar))
                end = tar.offset
        except tarfile.TarError as exc:
            raise ValueError(f"{shard_url}: not a readable plain tar shard ({exc})") from None
    # tarfile ends quietly at a missing header: only the end-of-archive blocks prove the rest
    if storage.size(shard_url) - end < 2 * tarfile.BLOCKSIZE:
        raise ValueError(f"{shard_url}: truncated after byte {end} (no end-of-archive marker)")


T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last one shorter), streamed."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _group_samples(
    shard_url: str, members: Iterator[tuple[str, str, bytes]]
) -> Iterator[dict[str, bytes | str]]:
    current: dict[str, bytes | str] | None = None
    for key, ext, data in members:
        if current is not None and current["__key__"] != key:
            yield current
            current = None
        if current is None:
            current = {"__key__": key}
        if ext in current:
            raise ValueError(f"{shard_url}: duplicate member {key}.{ext}")
        current[ext] = data
    if current is not None:
        yield current


def write_manifest(
    manifest_url: str,
    rows: list[dict] | pa.Table,
    schema: pa.Schema | None = None,
    row_group_size: int | None = None,
) -> None:
    """Write rows (dicts, or a table) as one Parquet file, atomically; ``schema`` fixes types;
    ``row_group_size``: rows per row group (default: pyarrow's)."""
    if isinstance(rows, pa.Table):
        table = rows if schema is None else rows.cast(schema)
    elif not rows and schema is None:
        raise ValueError(f"{manifest_url}: rows is empty; pass schema to write an empty manifest")
    else:
        table = pa.Table.from_pylist(rows, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", row_group_size=row_group_size)
    storage.write_bytes(manifest_url, buffer.getvalue())


def read_manifest(manifest_url: str, columns: Sequence[str] | None = None) -> pa.Table:
    """Read a Parquet manifest, or only ``columns`` of it (FileNotFoundError naming the URL
    when missing)."""
    data = io.BytesIO(storage.read_bytes(manifest_url))
    if columns is None:
        return pq.read_table(data)
    names = pq.read_schema(data).names
    missing = [c for c in columns if c not in names]
    if missing:
        raise KeyError(f"{manifest_url}: no column {missing[0]!r}")
    return pq.read_table(data, columns=list(columns)).select(list(columns))


def _gopen_fsspec(url: str, mode: str = "rb", bufsize: int = 8192, **_: Any) -> BinaryIO:
    fs, path = storage.url_to_fs(url)
    return fs.open(path, mode, block_size=max(bufsize, 1 << 22))


def register_webdataset_opener(schemes: Sequence[str] = _FSSPEC_SCHEMES) -> None:
    """Let ``webdataset.WebDataset("s3://...")`` read through fsspec (call once per process)."""
    gopen = importlib.import_module("webdataset.gopen")  # the package re-exports a function
    for scheme in schemes:
        gopen.gopen_schemes[scheme] = _gopen_fsspec
