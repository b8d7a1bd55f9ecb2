"""Tar shards and manifests: deterministic bytes, readers agree, unsafe members refused."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pyarrow as pa
import pytest
import webdataset as wds

from dpt_core.data.shards import (
    iter_shard,
    read_manifest,
    register_webdataset_opener,
    shard_manifest_url,
    shard_name,
    shard_urls,
    write_manifest,
    write_shard,
)
from dpt_core.data.tar_format import SHARD_MTIME

SAMPLES = [
    {"__key__": "b", "png": b"\x89PNG-b", "json": '{"k": "b"}'},
    {"__key__": "a", "json": b'{"k": "a"}', "jpg": b"\xff\xd8-a", "iuv.png": b"iuv-a"},
]


def test_write_shard_is_a_sorted_deterministic_tar(tmp_path: Path):
    url = str(tmp_path / "x-00000.tar")
    info = write_shard(url, SAMPLES)
    data = Path(url).read_bytes()
    assert (info.count, info.nbytes, info.sha256) == (
        2,
        len(data),
        hashlib.sha256(data).hexdigest(),
    )
    with tarfile.open(url) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["a.iuv.png", "a.jpg", "a.json", "b.json", "b.png"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in members} == {
        (SHARD_MTIME, 0, 0, "", 0o644)
    }
    again = tmp_path / "y-00000.tar"
    write_shard(str(again), list(reversed(SAMPLES)))
    assert again.read_bytes() == data


def test_iter_shard_returns_the_samples(tmp_path: Path):
    url = str(tmp_path / "x-00000.tar")
    write_shard(url, SAMPLES)
    got = list(iter_shard(url))
    assert got == [
        {"__key__": "a", "iuv.png": b"iuv-a", "jpg": b"\xff\xd8-a", "json": b'{"k": "a"}'},
        {"__key__": "b", "json": b'{"k": "b"}', "png": b"\x89PNG-b"},
    ]


def test_webdataset_reads_our_shards(tmp_path: Path):
    url = str(tmp_path / "x-00000.tar")
    write_shard(url, SAMPLES)
    got = list(wds.WebDataset(url, shardshuffle=False))
    assert [s["__key__"] for s in got] == ["a", "b"]
    assert got[0]["iuv.png"] == b"iuv-a" and got[1]["png"] == b"\x89PNG-b"


def test_long_keys_round_trip(tmp_path: Path):
    key = "k" * 150  # longer than ustar's 100-character name field
    url = str(tmp_path / "x-00000.tar")
    write_shard(url, [{"__key__": key, "png": b"x"}])
    assert list(iter_shard(url)) == [{"__key__": key, "png": b"x"}]
    assert [s["__key__"] for s in wds.WebDataset(url, shardshuffle=False)] == [key]


def test_streamed_samples_must_come_in_key_order(tmp_path: Path):
    url = str(tmp_path / "x-00000.tar")
    with pytest.raises(ValueError, match=r"x-00000.tar.*increasing"):
        write_shard(url, iter([{"__key__": "b", "png": b"1"}, {"__key__": "a", "png": b"2"}]))
    with pytest.raises(ValueError, match="increasing"):
        write_shard(url, [{"__key__": "a", "png": b"1"}, {"__key__": "a", "jpg": b"2"}])
    with pytest.raises(ValueError, match="bad sample key"):
        write_shard(url, [{"__key__": "a.b", "png": b"1"}])
    assert list(tmp_path.iterdir()) == []  # nothing committed, no temp file left


def test_failure_midway_leaves_nothing(tmp_path: Path):
    def samples():
        yield {"__key__": "a", "png": b"1"}
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_shard(str(tmp_path / "x-00000.tar"), samples())
    assert list(tmp_path.iterdir()) == []


def _tar_with(tmp_path: Path, member: tarfile.TarInfo) -> str:
    url = str(tmp_path / "evil-00000.tar")
    with tarfile.open(url, "w") as tar:
        tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
    return url


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        ("../escape.txt", tarfile.REGTYPE, "unsafe member path"),
        ("/etc/passwd.txt", tarfile.REGTYPE, "unsafe member path"),
        ("link.png", tarfile.SYMTYPE, "link member"),
        ("hard.png", tarfile.LNKTYPE, "link member"),
        ("dev.png", tarfile.CHRTYPE, "device member"),
    ],
)
def test_iter_shard_refuses_unsafe_members(tmp_path: Path, name: str, kind: bytes, message: str):
    member = tarfile.TarInfo(name)
    member.type = kind
    member.size = 1 if kind == tarfile.REGTYPE else 0
    member.linkname = "/etc/passwd" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
    url = _tar_with(tmp_path, member)
    with pytest.raises(ValueError, match=rf"evil-00000.tar.*{message}"):
        list(iter_shard(url))


def test_manifest_round_trip_and_empty_manifest(tmp_path: Path):
    url = str(tmp_path / "x-00000.parquet")
    write_manifest(url, [{"key": "a", "width": 3}, {"key": "b", "width": None}])
    assert read_manifest(url).to_pylist() == [{"key": "a", "width": 3}, {"key": "b", "width": None}]
    schema = pa.schema([("key", pa.string())])
    write_manifest(url, [], schema)
    assert read_manifest(url).schema == schema and read_manifest(url).num_rows == 0
    with pytest.raises(ValueError, match="pass schema"):
        write_manifest(url, [])
    with pytest.raises(FileNotFoundError, match=r"nope\.parquet"):
        read_manifest(str(tmp_path / "nope.parquet"))


def test_shard_urls_lists_only_committed_tars(tmp_path: Path):
    for name in ("d-00001.tar", "d-00000.tar", "d-00000.parquet", "d-00000.tar.done.json"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / ".tmp-abc-d-00002.tar").write_bytes(b"")
    assert shard_urls(str(tmp_path)) == [
        str(tmp_path / "d-00000.tar"),
        str(tmp_path / "d-00001.tar"),
    ]
    with pytest.raises(FileNotFoundError, match="missing"):
        shard_urls(str(tmp_path / "missing"))


def test_shard_names():
    assert shard_name("studio", 3) == "studio-00003"
    assert shard_manifest_url("s3://b/d/x-00003.tar") == "s3://b/d/x-00003.parquet"
    with pytest.raises(ValueError, match="index"):
        shard_name("studio", -1)
    with pytest.raises(ValueError, match="name"):
        shard_name("a/b", 0)


def test_registered_opener_lets_webdataset_read_fsspec_urls():
    url = "memory://dpt-test-shards/m-00000.tar"
    write_shard(url, SAMPLES)
    register_webdataset_opener()
    got = list(wds.WebDataset(url, shardshuffle=False))
    assert [s["__key__"] for s in got] == ["a", "b"]


@pytest.mark.parametrize("key", ["a", "k" * 95, "k" * 96, "k" * 97, "z" * 150])
def test_bytes_equal_what_tarfile_writes(tmp_path: Path, key: str):
    members = {"png": b"x" * 777, "json": b"{}"}  # "k" * 96 + ".png" is 100 chars: the ustar limit
    url = tmp_path / "ours-00000.tar"
    write_shard(str(url), [{"__key__": key, **members}])
    reference = io.BytesIO()
    with tarfile.open(fileobj=reference, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for ext in sorted(members):
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mtime, info.mode, info.uname, info.gname = (
                len(members[ext]), SHARD_MTIME, 0o644, "", "",
            )  # fmt: skip
            tar.addfile(info, io.BytesIO(members[ext]))
    assert url.read_bytes() == reference.getvalue()
