"""The bytes of a deterministic tar shard, member by member (written by ``shards.write_shard``).

Members are sorted by key then extension, with a fixed mtime/uid/gid/mode and ustar headers
(PAX only where a name needs it), so the same samples give byte-identical shards, equal to
what ``tarfile`` writes for the same members.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO

SHARD_MTIME = 946_684_800  # 2000-01-01T00:00:00Z: fixed member mtime

Sample = Mapping[str, bytes | str]


class HashingWriter(io.RawIOBase):
    """Write-through wrapper that counts and hashes what passes."""

    def __init__(self, sink: BinaryIO) -> None:
        self._sink, self.nbytes, self.digest = sink, 0, hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._sink.write(view)
        self.digest.update(view)
        self.nbytes += len(view)
        return len(view)


def _check_key(shard_url: str, key: object) -> str:
    if not isinstance(key, str) or not key or "." in key or "/" in key or "\x00" in key:
        raise ValueError(f"{shard_url}: bad sample key {key!r} (non-empty, no '.', '/', NUL)")
    return key


def sample_members(shard_url: str, sample: Sample) -> list[tuple[str, bytes]]:
    key = _check_key(shard_url, sample.get("__key__"))
    members = []
    for ext, value in sample.items():
        if ext.startswith("__"):
            continue
        if not ext or "/" in ext or ext.startswith("."):
            raise ValueError(f"{shard_url}: bad extension {ext!r} in sample {key!r}")
        if not isinstance(value, bytes | bytearray | str):
            raise ValueError(f"{shard_url}: member {key}.{ext} must be bytes or str")
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        members.append((f"{key}.{ext}", data))
    if not members:
        raise ValueError(f"{shard_url}: sample {key!r} has no members")
    return sorted(members)


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, SHARD_MTIME, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def ordered(shard_url: str, samples: Iterable[Sample]) -> Iterator[Sample]:
    """Sorted by key if given a sequence; else checked to arrive in increasing key order."""
    if isinstance(samples, Sequence):
        samples = sorted(samples, key=lambda s: str(s.get("__key__")))
    previous = None
    for sample in samples:
        key = _check_key(shard_url, sample.get("__key__"))
        if previous is not None and key <= previous:
            raise ValueError(
                f"{shard_url}: keys must be unique and increasing; {key!r} after {previous!r}"
            )
        previous = key
        yield sample


_USTAR_TEMPLATE = bytes(_tarinfo("x", 0).tobuf(tarfile.USTAR_FORMAT, "ascii", "strict"))


def _header(name: str, size: int) -> bytes:
    """The tar header ``tarfile`` writes (PAX format) for a regular member ``name``.

    Short ASCII names reuse a prebuilt ustar header (tarfile's own layout, patched name,
    size and checksum); longer names go through ``TarInfo.tobuf`` for a PAX header.
    """
    encoded = name.encode("ascii", "replace")
    if len(encoded) > 100 or not name.isascii() or size >= 8**11:
        return _tarinfo(name, size).tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    header = bytearray(_USTAR_TEMPLATE)
    header[0:100] = encoded.ljust(100, tarfile.NUL)
    header[124:136] = b"%011o\0" % size
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def member_bytes(name: str, data: bytes) -> list[bytes]:
    """Header, data and zero padding to a 512-byte block of one tar member."""
    return [_header(name, len(data)), data, tarfile.NUL * (-len(data) % tarfile.BLOCKSIZE)]
