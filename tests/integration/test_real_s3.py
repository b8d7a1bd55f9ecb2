"""The storage layer against the real S3 server (SeaweedFS, started by infra/s3_server.sh in CI)."""

from __future__ import annotations

import pytest

from dpt_core import storage

pytestmark = pytest.mark.s3


def test_atomic_write_and_read_back(bucket: str) -> None:
    url = storage.join(bucket, "datasets", "x", "a.bin")
    storage.write_bytes(url, b"payload")
    assert storage.read_bytes(url) == b"payload"
    assert storage.ls(storage.join(bucket, "datasets", "x")) == [url]


def test_failed_stream_leaves_nothing(bucket: str) -> None:
    url = storage.join(bucket, "partial.bin")
    with pytest.raises(RuntimeError), storage.open_atomic(url) as f:
        f.write(b"x" * (6 * 1024 * 1024))  # more than one multipart part
        raise RuntimeError("writer crashed")
    assert not storage.exists(url)


def test_markers_and_failures_log(bucket: str) -> None:
    out = storage.join(bucket, "shards", "s-00000.tar")
    storage.write_bytes(out, b"tar bytes")
    fp = storage.fingerprint({"inputs": ["a", "b"]})
    assert not storage.is_committed(out, fp)
    storage.mark_committed(out, fp, count=2)
    assert storage.is_committed(out, fp)
    assert not storage.is_committed(out, storage.fingerprint({"inputs": ["a"]}))

    rows = [storage.Failure("k1", "src/k1.jpg", "shard", "truncated image")]
    storage.append_failures(bucket, "shard", "demo", rows)
    storage.append_failures(bucket, "shard", "demo", rows)  # a re-run: no duplicate
    assert [f.key for f in storage.read_failures(bucket, "shard", "demo")] == ["k1"]
