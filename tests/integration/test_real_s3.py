"""The storage layer against the real S3 server (SeaweedFS, started by infra/s3_server.sh in CI)."""

from __future__ import annotations

import uuid

import pytest
import s3fs

from dpt_core import storage

pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def bucket_url(real_s3_endpoint: str):
    fs = s3fs.S3FileSystem(endpoint_url=real_s3_endpoint, skip_instance_cache=True)
    bucket = f"dpt-it-{uuid.uuid4().hex[:10]}"
    fs.mkdir(bucket)
    yield f"s3://{bucket}"
    fs.rm(bucket, recursive=True)


def test_atomic_write_and_read_back(bucket_url: str) -> None:
    url = storage.join(bucket_url, "datasets", "x", "a.bin")
    storage.write_bytes(url, b"payload")
    assert storage.read_bytes(url) == b"payload"
    assert storage.ls(storage.join(bucket_url, "datasets", "x")) == [url]


def test_failed_stream_leaves_nothing(bucket_url: str) -> None:
    url = storage.join(bucket_url, "partial.bin")
    with pytest.raises(RuntimeError), storage.open_atomic(url) as f:
        f.write(b"x" * (6 * 1024 * 1024))  # more than one multipart part
        raise RuntimeError("writer crashed")
    assert not storage.exists(url)


def test_markers_and_failures_log(bucket_url: str) -> None:
    out = storage.join(bucket_url, "shards", "s-00000.tar")
    storage.write_bytes(out, b"tar bytes")
    fp = storage.fingerprint({"inputs": ["a", "b"]})
    assert not storage.is_committed(out, fp)
    storage.mark_committed(out, fp, count=2)
    assert storage.is_committed(out, fp)
    assert not storage.is_committed(out, storage.fingerprint({"inputs": ["a"]}))

    rows = [storage.Failure("k1", "src/k1.jpg", "shard", "truncated image")]
    storage.append_failures(bucket_url, "shard", "demo", rows)
    storage.append_failures(bucket_url, "shard", "demo", rows)  # a re-run: no duplicate
    assert [f.key for f in storage.read_failures(bucket_url, "shard", "demo")] == ["k1"]
