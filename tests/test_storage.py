"""dpt_core.storage on local disk, file://, memory:// and S3 (moto server)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import multiprocessing
import re
import uuid
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import s3fs
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem
from s3_server import TEST_SECRET, s3_fixture

from dpt_core import storage

s3 = s3_fixture()


@pytest.fixture(autouse=True)
def _no_s3_config():
    storage.configure_s3()
    yield
    storage.configure_s3()


@pytest.fixture(params=["local", "file", "memory", "s3"])
def root(request, tmp_path):
    """A fresh, empty root URL on each backend."""
    if request.param == "local":
        yield str(tmp_path / "root")
    elif request.param == "file":
        yield (tmp_path / "root").as_uri()
    elif request.param == "memory":
        url = f"memory://dpt-test-{uuid.uuid4().hex}"
        yield url
        with contextlib.suppress(FileNotFoundError):
            MemoryFileSystem().rm(url.removeprefix("memory:/"), recursive=True)
    else:
        server = request.getfixturevalue("s3")
        storage.configure_s3(**server.storage_options)
        yield f"{server.bucket_url}/{uuid.uuid4().hex}"


def raw_names(url: str) -> list[str]:
    """Every file name under folder ``url``, hidden ones included."""
    fs, path = storage.url_to_fs(url)
    return sorted(p.rsplit("/", 1)[-1] for p in fs.find(path))


def test_url_to_fs_local_file_memory(tmp_path):
    fs, path = storage.url_to_fs(str(tmp_path / "a.bin"))
    assert isinstance(fs, LocalFileSystem) and path == f"{tmp_path}/a.bin"
    fs, path = storage.url_to_fs((tmp_path / "a.bin").as_uri())
    assert isinstance(fs, LocalFileSystem) and path == f"{tmp_path}/a.bin"
    fs, path = storage.url_to_fs("memory://x/y.bin")
    assert isinstance(fs, MemoryFileSystem) and path == "/x/y.bin"


def test_url_to_fs_s3():
    fs, path = storage.url_to_fs("s3://bucket/a/b.tar", endpoint_url="http://127.0.0.1:9")
    assert isinstance(fs, s3fs.S3FileSystem) and path == "bucket/a/b.tar"


@pytest.mark.parametrize("bad", ["", None, 3])
def test_url_to_fs_rejects_non_url(bad):
    with pytest.raises(ValueError, match="url must be a non-empty string"):
        storage.url_to_fs(bad)


def test_url_to_fs_unknown_protocol_names_url():
    with pytest.raises(ValueError, match="nosuchproto://x/y"):
        storage.url_to_fs("nosuchproto://x/y")


def test_join():
    assert storage.join("s3://b/root", "a", "x.tar") == "s3://b/root/a/x.tar"
    assert storage.join("s3://b/root/", "a/b/", "c") == "s3://b/root/a/b/c"
    assert storage.join("/data", "failures/stage") == "/data/failures/stage"
    assert storage.join("memory://", "x") == "memory://x"
    assert storage.join("rel/dir") == "rel/dir"
    for bad in ["..", "a/../b", "", "/"]:
        with pytest.raises(ValueError, match="bad path part"):
            storage.join("/data", bad)


def test_write_read_ls_exists(root):
    a, b = storage.join(root, "d", "b.bin"), storage.join(root, "d", "a.bin")
    storage.write_bytes(a, b"first")
    storage.write_bytes(b, bytearray(b"\x00\xff"))
    storage.write_bytes(a, b"second")  # overwrite
    assert storage.read_bytes(a) == b"second" and storage.read_bytes(b) == b"\x00\xff"
    assert storage.exists(a) and not storage.exists(storage.join(root, "d", "c.bin"))
    assert storage.ls(storage.join(root, "d")) == [b, a]
    assert storage.size(a) == 6
    with pytest.raises(NotADirectoryError, match="not a folder"):
        storage.ls(a)
    with storage.open_read(b) as stream:
        assert stream.read() == b"\x00\xff"
    assert raw_names(storage.join(root, "d")) == ["a.bin", "b.bin"]


def test_missing_file_errors_name_the_url(root):
    missing = storage.join(root, "nope", "x.tar")
    for call in (storage.read_bytes, storage.size, storage.ls):
        with pytest.raises(FileNotFoundError, match=f"{re.escape(missing)}$"):
            call(missing)
    with (
        pytest.raises(FileNotFoundError, match=f"{re.escape(missing)}$"),
        storage.open_read(missing),
    ):
        pass


def test_write_bytes_rejects_str(tmp_path):
    with pytest.raises(ValueError, match="must be bytes"):
        storage.write_bytes(str(tmp_path / "x"), "text")


def test_open_atomic_commits_on_clean_exit(root):
    url = storage.join(root, "s", "shard-00000.tar")
    with storage.open_atomic(url) as stream:
        stream.write(b"a" * 1000)
        stream.write(b"b" * 24)
        assert not storage.exists(url)  # nothing visible before commit
    assert storage.read_bytes(url) == b"a" * 1000 + b"b" * 24
    assert raw_names(storage.join(root, "s")) == ["shard-00000.tar"]


def test_open_atomic_exception_leaves_nothing(root):
    url = storage.join(root, "s", "shard-00001.tar")
    storage.makedirs(storage.join(root, "s"))
    storage.write_bytes(storage.join(root, "s", "keep.bin"), b"k")
    with pytest.raises(RuntimeError, match="boom"), storage.open_atomic(url) as stream:
        stream.write(b"partial")
        raise RuntimeError("boom")
    assert not storage.exists(url)
    assert raw_names(storage.join(root, "s")) == ["keep.bin"]


def test_open_atomic_exception_keeps_old_content(root):
    url = storage.join(root, "x.bin")
    storage.write_bytes(url, b"old")
    with pytest.raises(KeyError), storage.open_atomic(url) as stream:
        stream.write(b"new but broken")
        raise KeyError("x")
    assert storage.read_bytes(url) == b"old"


def test_local_temp_is_hidden_in_same_folder(tmp_path):
    url = str(tmp_path / "out" / "shard-00000.tar")
    with storage.open_atomic(url) as stream:
        stream.write(b"x")
        (temp,) = list((tmp_path / "out").iterdir())
        assert temp.name.startswith(".tmp-") and temp.name.endswith("-shard-00000.tar")
        assert storage.ls(str(tmp_path / "out")) == []  # in-flight temps are not listed
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["shard-00000.tar"]


def test_s3_multipart_write_aborted_on_exception(s3):
    storage.configure_s3(**s3.storage_options, default_block_size=5 * 2**20)
    url = f"{s3.bucket_url}/big/shard-00000.tar"
    with pytest.raises(RuntimeError), storage.open_atomic(url) as stream:
        stream.write(b"z" * (6 * 2**20))  # one 5 MiB part is uploaded here
        raise RuntimeError("crash after the first part")
    fs, _ = storage.url_to_fs(url)
    assert not storage.exists(url)
    assert fs.list_multipart_uploads(s3.bucket_url.removeprefix("s3://")) == []
    with storage.open_atomic(url) as stream:
        stream.write(b"z" * (6 * 2**20))
    assert storage.size(url) == 6 * 2**20


def test_fingerprint_canonical_form():
    expected = hashlib.sha256(b'["a",1,{"x":[1,2],"y":null}]').hexdigest()
    assert storage.fingerprint("a", 1, {"y": None, "x": (1, 2)}) == expected
    assert storage.fingerprint("a", 1, {"x": [1, 2], "y": None}) == expected
    digest = hashlib.sha256(b"\x00\x01").hexdigest()
    bytes_fp = hashlib.sha256(f'[{{"$bytes":"{digest}"}}]'.encode()).hexdigest()
    assert storage.fingerprint(b"\x00\x01") == bytes_fp == storage.fingerprint(bytearray([0, 1]))


def test_fingerprint_distinguishes_inputs():
    base = storage.fingerprint("shard-00000", {"size": 256}, b"abc")
    assert base == storage.fingerprint("shard-00000", {"size": 256}, b"abc")
    assert len(base) == 64 and int(base, 16) >= 0
    assert base != storage.fingerprint("shard-00000", {"size": 255}, b"abc")
    assert base != storage.fingerprint("shard-00000", {"size": 256}, b"abd")
    assert storage.fingerprint(np.int64(3), Path("/a")) == storage.fingerprint(3, "/a")
    assert storage.fingerprint(np.zeros(3, np.uint8)) != storage.fingerprint(np.zeros(3, np.int8))
    with pytest.raises(ValueError, match="cannot hash a object"):
        storage.fingerprint(object())
    with pytest.raises(ValueError, match="keys must be strings"):
        storage.fingerprint({1: "a"})


def test_marker_semantics(root):
    out = storage.join(root, "shards", "ds-00000.tar")
    fp = storage.fingerprint("input", 1)
    assert not storage.is_committed(out, fp)  # nothing yet
    with pytest.raises(FileNotFoundError, match=r"ds-00000\.tar"):
        storage.mark_committed(out, fp)
    storage.write_bytes(out, b"12345")
    assert not storage.is_committed(out, fp)  # output without marker
    storage.mark_committed(out, fp, count=5, sha256="ab")
    assert storage.is_committed(out, fp)
    assert not storage.is_committed(out, storage.fingerprint("input", 2))  # input changed
    marker = storage.read_marker(out)
    assert marker["size"] == 5 and marker["info"] == {"count": 5, "sha256": "ab"}
    assert storage.marker_url(out) == out + ".done.json" and storage.exists(out + ".done.json")
    storage.write_bytes(out, b"123")  # output replaced, marker stale
    assert not storage.is_committed(out, fp)
    fs, path = storage.url_to_fs(out)
    fs.rm_file(path)  # marker without its output
    assert not storage.is_committed(out, fp)


def test_marker_corrupt_or_bad_arguments(tmp_path):
    out = str(tmp_path / "o.tar")
    storage.write_bytes(out, b"x")
    storage.write_bytes(out + ".done.json", b"{not json")
    assert not storage.is_committed(out, "abc")
    with pytest.raises(ValueError, match="fingerprint must be a non-empty string"):
        storage.is_committed(out, "")
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        storage.mark_committed(out, "abc", blob=object())


def test_failures_append_read_idempotent(root):
    f1 = storage.Failure("k1", "raw/a.jpg", "shard", "corrupt image", "cannot identify")
    f2 = storage.Failure("k2", "raw/b.jpg", "shard", "no person")
    url = storage.append_failures(root, "shard", "ds-00000", [f1, f2, f1])
    assert url == storage.join(root, "failures", "shard", "ds-00000.parquet")
    assert storage.read_failures(root, "shard", "ds-00000") == [f1, f2]
    again = storage.Failure("k1", "raw/a.jpg", "shard", "corrupt image", "other detail")
    f3 = storage.Failure("k1", "raw/a.jpg", "shard", "wrong size")
    storage.append_failures(root, "shard", "ds-00000", [again, f3])  # re-run + one new reason
    assert storage.read_failures(root, "shard", "ds-00000") == [f1, f2, f3]
    table = pq.read_table(io.BytesIO(storage.read_bytes(url)))
    assert table.column_names == ["key", "source", "stage", "reason", "detail", "time"]
    assert table.column("reason").to_pylist() == ["corrupt image", "no person", "wrong size"]
    assert raw_names(storage.join(root, "failures", "shard")) in (
        ["ds-00000.parquet"],
        [".ds-00000.parquet.lock", "ds-00000.parquet"],
    )


def test_failures_missing_log_and_bad_input(tmp_path):
    root = str(tmp_path)
    assert storage.read_failures(root, "shard", "none") == []
    assert storage.append_failures(root, "shard", "empty", []).endswith("empty.parquet")
    assert not (tmp_path / "failures" / "shard" / "empty.parquet").exists()
    with pytest.raises(ValueError, match="has stage 'render', not 'shard'"):
        storage.append_failures(root, "shard", "x", [storage.Failure("k", "s", "render", "r")])
    with pytest.raises(ValueError, match="name must be a plain name"):
        storage.append_failures(root, "shard", "../x", [])
    with pytest.raises(ValueError, match="fields \\['detail'\\] must be strings"):
        storage.append_failures(root, "shard", "x", [storage.Failure("k", "s", "shard", "r", 3)])


def _append_worker(args: tuple[str, int]) -> None:
    root, worker = args
    own = [storage.Failure(f"w{worker}-{i}", "src", "extract", "bad") for i in range(8)]
    shared = [storage.Failure(f"shared-{i}", "src", "extract", "bad") for i in range(4)]
    for _ in range(2):  # a re-run appends the same rows again
        for chunk in (own[:4], shared, own[4:]):
            storage.append_failures(root, "extract", "log", chunk)


def test_failures_concurrent_appends_from_processes(tmp_path):
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_append_worker, [(str(tmp_path), w) for w in range(4)])
    keys = [f.key for f in storage.read_failures(str(tmp_path), "extract", "log")]
    expected = {f"w{w}-{i}" for w in range(4) for i in range(8)} | {f"shared-{i}" for i in range(4)}
    assert len(keys) == len(expected) == 36 and set(keys) == expected


def test_s3_settings_precedence(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://env.invalid:1")
    assert storage.url_to_fs("s3://b/x")[0].endpoint_url == "http://env.invalid:1"
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", "http://fsspec-env.invalid:2")
    assert storage.url_to_fs("s3://b/x")[0].endpoint_url == "http://fsspec-env.invalid:2"
    storage.configure_s3(endpoint_url="http://configured.invalid:3", key="k", secret="s")
    assert storage.url_to_fs("s3://b/x")[0].endpoint_url == "http://configured.invalid:3"
    fs, _ = storage.url_to_fs("s3://b/x", endpoint_url="http://argument.invalid:4")
    assert fs.endpoint_url == "http://argument.invalid:4"
    with pytest.raises(ValueError, match="both key and secret"):
        storage.configure_s3(key="only-key")


def test_s3_from_environment_and_no_secret_leaks(s3, monkeypatch, caplog):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.storage_options["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET)
    url = f"{s3.bucket_url}/env/{uuid.uuid4().hex}.bin"
    with caplog.at_level(logging.DEBUG):
        storage.write_bytes(url, b"via env")
        assert storage.read_bytes(url) == b"via env"
        with pytest.raises(FileNotFoundError) as missing:
            storage.read_bytes(url + ".missing")
    assert f"S3 endpoint {s3.endpoint_url} (from AWS_ENDPOINT_URL)" in caplog.text
    assert TEST_SECRET not in caplog.text
    assert TEST_SECRET not in str(missing.value) and TEST_SECRET not in repr(missing.value)
    storage.configure_s3(**s3.storage_options)
    assert TEST_SECRET not in repr(storage.url_to_fs(url)[0])


def test_redact_hides_userinfo():
    assert storage.redact("s3://AKIA:SECRET@bucket/x") == "s3://***@bucket/x"
    assert storage.redact("/plain/path") == "/plain/path"
