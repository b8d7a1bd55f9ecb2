"""Storage faults: S3 throttling, 500s and dropped connections injected by a proxy in front of
moto are retried with backoff; a stage that finally fails names what failed and leaves no
partial output; a re-run completes it. Outputs equal a local-disk run byte for byte.

botocore's backoff delays are scaled by 1/50 here (and recorded) to keep the suite short.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from types import SimpleNamespace

import botocore.retries.standard
import pytest
import s3fs
from reliability_figures import FIGURES
from reliability_kill import NAME, failure_rows
from reliability_s3proxy import FaultPlan, fault_proxy
from s3_server import TEST_KEY, TEST_SECRET, moto_s3

from dpt_core import storage
from dpt_core.data import shards
from dpt_core.data.stage import ShardConfig, shard_dataset
from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.stage import extract_dataset

BACKOFF_SCALE = 50.0
OUTPUT_FOLDERS = (f"datasets/{NAME}/shards", f"densepose/{NAME}/studio")


@pytest.fixture(scope="module")
def s3():
    with moto_s3() as server:
        yield server


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch):
    """botocore's exponential backoff with jitter, every delay divided by BACKOFF_SCALE."""
    original = botocore.retries.standard.ExponentialBackoff.delay_amount

    def scaled(self, context):
        delay = original(self, context)
        FIGURES.add("storage_faults", "backoff_waits")
        return delay / BACKOFF_SCALE

    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", scaled)
    yield
    storage.configure_s3()


@pytest.fixture(scope="module")
def studio(tmp_path_factory) -> SimpleNamespace:
    """A 8-sample studio source (32 px) and its shard + extract outputs on local disk."""
    from dpt_core.studio import generate_dataset

    base = tmp_path_factory.mktemp("s3-faults")
    src, root = str(base / "src"), str(base / "local")
    generate_dataset(src, identities=2, poses=2, views=2, size=32, seed=3, background=False)
    run_stages(src, root)
    return SimpleNamespace(src=src, root=root)


def run_stages(src: str, root: str) -> None:
    shard_dataset("studio", src, root, NAME, ShardConfig(max_count=2))
    extract_dataset(root, NAME, ExtractOptions(source="studio"))


def _through(proxy) -> None:
    storage.configure_s3(endpoint_url=proxy.url, key=TEST_KEY, secret=TEST_SECRET)


def assert_same_outputs(s3_root: str, local_root: str) -> None:
    """Every tar, manifest and stats file on S3 equals the local run's; nothing extra."""
    for folder in OUTPUT_FOLDERS:
        local = Path(local_root) / folder
        want = {
            p.name: p.read_bytes() for p in local.iterdir() if not p.name.endswith(".done.json")
        }
        urls = [
            u for u in storage.ls(storage.join(s3_root, folder)) if not u.endswith(".done.json")
        ]
        got = {u.rsplit("/", 1)[1]: storage.read_bytes(u) for u in urls}
        differing = sorted(n for n in set(got) | set(want) if got.get(n) != want.get(n))
        FIGURES.add("storage_faults", "partial_outputs", len(differing))
        assert not differing, f"{folder}: {differing}"
        for url in shards.shard_urls(storage.join(s3_root, folder)):
            marker = storage.read_marker(url)
            assert marker is not None and storage.is_committed(url, marker["fingerprint"])


def _count(proxy) -> None:
    for kind, n in proxy.faults.items():
        FIGURES.add("storage_faults", f"injected_{kind}", n)
        FIGURES.add("storage_faults", "injected", n)
    FIGURES.add("storage_faults", "requests", proxy.requests)


def test_retries_are_configured_and_reach_botocore(s3, monkeypatch) -> None:
    fs, _ = storage.url_to_fs(f"{s3.bucket_url}/x", **s3.storage_options)
    assert fs.config_kwargs["retries"] == storage.S3_RETRIES == {"max_attempts": 10,
                                                                 "mode": "standard"}  # fmt: skip
    mine = {"retries": {"max_attempts": 2, "mode": "legacy"}}
    fs, _ = storage.url_to_fs(f"{s3.bucket_url}/x", config_kwargs=mine, **s3.storage_options)
    assert fs.config_kwargs["retries"] == mine["retries"]
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    fs, _ = storage.url_to_fs(f"{s3.bucket_url}/x", **s3.storage_options)
    assert "retries" not in fs.config_kwargs


def test_a_request_failing_six_times_in_a_row_still_succeeds(s3) -> None:
    """500, 503 and dropped connections on the first 6 attempts of every request: botocore's
    default (legacy, 5 attempts) gives up on the 500s; storage's settings do not."""
    plan = FaultPlan(first=6, kinds=("internal", "slowdown", "drop"), match="retried")
    with fault_proxy(s3.endpoint_url, plan) as proxy:
        _through(proxy)
        url = f"{s3.bucket_url}/retried/a.bin"
        storage.write_bytes(url, b"payload")
        assert storage.read_bytes(url) == b"payload"
        assert storage.size(url) == 7
        _count(proxy)
        assert sum(proxy.faults.values()) >= 3 * 6


def test_a_write_that_finally_fails_names_its_url_and_leaves_nothing(s3) -> None:
    plan = FaultPlan(rate=1.0, kinds=("internal",), match="PUT|POST")
    with fault_proxy(s3.endpoint_url, plan) as proxy:
        _through(proxy)
        url = f"{s3.bucket_url}/doomed/a-00000.tar"
        with pytest.raises(OSError, match=r"write s3://\S+/doomed/a-00000\.tar failed after retr"):
            shards.write_shard(url, [{"__key__": "a", "png": b"x" * 100}])
        with pytest.raises(OSError, match=r"write s3://\S+/doomed/b\.bin failed after retries"):
            storage.write_bytes(f"{s3.bucket_url}/doomed/b.bin", b"abc")
        _count(proxy)
    storage.configure_s3(**s3.storage_options)
    assert not storage.exists(f"{s3.bucket_url}/doomed")
    FIGURES.add("storage_faults", "final_failures_reported", 2)


@pytest.mark.parametrize(
    ("rate", "seed"), [(0.15, 0), pytest.param(0.3, 1, marks=pytest.mark.slow),
                       pytest.param(0.3, 2, marks=pytest.mark.slow)], ids=["fast", "full1", "full2"]
)  # fmt: skip
def test_stages_complete_through_random_faults(s3, studio, rate: float, seed: int) -> None:
    """shard + extract S3 -> S3 (source on S3 too) with ``rate`` of all requests failing."""
    src, root = f"{s3.bucket_url}/src-{seed}", f"{s3.bucket_url}/faulty-{seed}"
    storage.configure_s3(**s3.storage_options)
    for path in sorted(p for p in Path(studio.src).rglob("*") if p.is_file()):
        storage.write_bytes(
            storage.join(src, *path.relative_to(studio.src).parts), path.read_bytes()
        )
    with fault_proxy(s3.endpoint_url, FaultPlan(rate=rate, seed=seed)) as proxy:
        _through(proxy)
        run_stages(src, root)
        _count(proxy)
        assert sum(proxy.faults.values()) > 10
    storage.configure_s3(**s3.storage_options)
    _assert_same_as_local(src, root, studio)


def _without_source(sample: dict) -> dict:
    if "json" in sample:
        sample = {**sample, "json": {**json.loads(sample["json"]), "source": None}}
    return sample


def _assert_same_as_local(src: str, root: str, studio: SimpleNamespace) -> None:
    """Same samples as the local run, member for member (the ``KEY.json`` members and the
    manifests differ only by the source URL they record); IUV tars byte for byte."""
    for folder in OUTPUT_FOLDERS:
        urls = shards.shard_urls(storage.join(root, folder))
        assert [u.rsplit("/", 1)[1] for u in urls] == sorted(
            p.name for p in (Path(studio.root) / folder).glob("*.tar")
        )
        for url in urls:
            local = str(Path(studio.root) / folder / url.rsplit("/", 1)[1])
            got = [_without_source(s) for s in shards.iter_shard(url)]
            assert got == [_without_source(s) for s in shards.iter_shard(local)], url
    for url in shards.shard_urls(storage.join(root, OUTPUT_FOLDERS[1])):
        local = Path(studio.root) / OUTPUT_FOLDERS[1] / url.rsplit("/", 1)[1]
        assert storage.read_bytes(url) == local.read_bytes()
    for url in shards.shard_urls(storage.join(root, OUTPUT_FOLDERS[0])):
        sources = shards.read_manifest(shards.shard_manifest_url(url)).column("source")
        assert all(s.startswith(src + "/") for s in sources.to_pylist())
    assert failure_rows(root, "extract") == failure_rows(studio.root, "extract")


@pytest.mark.parametrize("stage", ["shard", "extract"])
def test_a_stage_that_finally_fails_is_reported_and_resumes(s3, studio, stage: str) -> None:
    """Every upload of shard 1's output fails: the stage reports it by URL, commits the other
    shards, leaves no trace of shard 1; the re-run completes it byte for byte."""
    root = f"{s3.bucket_url}/fails-{stage}"
    storage.configure_s3(**s3.storage_options)
    if stage == "extract":
        shard_dataset("studio", studio.src, root, NAME, ShardConfig(max_count=2))
    folder = OUTPUT_FOLDERS[0 if stage == "shard" else 1]
    match = rf"(PUT|POST) \S*{folder}/{NAME}-00001\."
    plan = FaultPlan(rate=1.0, kinds=("internal",), match=match)
    with fault_proxy(s3.endpoint_url, plan) as proxy:
        _through(proxy)
        with pytest.raises((RuntimeError, OSError), match=rf"{folder}/{NAME}-00001\.\w+"):
            run_stages(studio.src, root)
        _count(proxy)
    storage.configure_s3(**s3.storage_options)
    names = [u.rsplit("/", 1)[1] for u in storage.ls(storage.join(root, folder))]
    assert not [n for n in names if n.startswith(f"{NAME}-00001")], names
    assert f"{NAME}-00000.tar" in names
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **s3.storage_options)
    assert fs.list_multipart_uploads(s3.bucket_url[5:]) == []
    FIGURES.add("storage_faults", "final_failures_reported")
    run_stages(studio.src, root)
    assert_same_outputs(root, studio.root)  # same local source: manifests match too


def test_no_credential_reaches_logs_or_outputs(s3, studio, caplog) -> None:
    """Run two stages against S3 with DEBUG logging everywhere; neither the secret key nor
    the access key id appears in any log record of ours or in any object written."""
    import logging

    caplog.set_level(logging.DEBUG)
    root = f"{s3.bucket_url}/creds"
    storage.configure_s3(**s3.storage_options)
    run_stages(studio.src, root)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("dpt_core"))
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert "S3 endpoint" in ours or storage.urls._logged_s3  # the endpoint was logged (once)
    assert TEST_SECRET not in everything and TEST_KEY not in ours
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **s3.storage_options)
    for path in fs.find(f"{s3.bucket_url[5:]}/creds"):
        data = fs.cat_file(path)
        assert TEST_SECRET.encode() not in data and TEST_KEY.encode() not in data, path
        FIGURES.add("credentials", "objects_scanned")
    FIGURES.add("credentials", "log_records_scanned", len(caplog.records))
    FIGURES.add("credentials", "leaks", 0)


@pytest.mark.s3
def test_faults_in_front_of_the_real_s3_server(real_s3_endpoint: str) -> None:
    """The same faults in front of the real S3 server (SeaweedFS in CI): writes, reads and
    conditional failures-log appends all get through; credentials from the environment."""
    bucket = f"dpt-rel-{uuid.uuid4().hex[:10]}"
    s3fs.S3FileSystem(endpoint_url=real_s3_endpoint, skip_instance_cache=True).mkdir(bucket)
    with fault_proxy(real_s3_endpoint, FaultPlan(rate=0.3, seed=7)) as proxy:
        storage.configure_s3(endpoint_url=proxy.url)
        for i in range(8):
            url = f"s3://{bucket}/real/{i}.bin"
            storage.write_bytes(url, bytes([i]) * (1000 * i + 1))
            assert storage.read_bytes(url) == bytes([i]) * (1000 * i + 1)
        shards.write_shard(f"s3://{bucket}/real/x-00000.tar", [{"__key__": "a", "png": b"x"}])
        assert [s["__key__"] for s in shards.iter_shard(f"s3://{bucket}/real/x-00000.tar")] == ["a"]
        for i in range(3):
            failure = storage.Failure(f"k{i}", "src", "extract", "no person")
            storage.append_failures(f"s3://{bucket}/real", "extract", "x", [failure])
        keys = [f.key for f in storage.read_failures(f"s3://{bucket}/real", "extract", "x")]
        assert keys == ["k0", "k1", "k2"]
        _count(proxy)
    s3fs.S3FileSystem(endpoint_url=real_s3_endpoint, skip_instance_cache=True).rm(
        bucket, recursive=True
    )
