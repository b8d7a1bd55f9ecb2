"""Concurrent runs of one stage on one data set (local disk and S3): both finish, the outputs
are one whole copy equal to a single run's, and concurrent failures-log appends lose nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from reliability_figures import FIGURES
from reliability_kill import HERE, NAME, REPO, child, snapshot
from reliability_s3proxy import FaultPlan, fault_proxy
from s3_server import TEST_KEY, TEST_SECRET, moto_s3

from dpt_core import storage
from dpt_core.data import shards

STAGES = ("shard", "extract")


def _run_together(stage: str, src: str, root: str, env: dict[str, str], n: int = 2) -> None:
    """``n`` children running ``stage`` at once; all must exit 0."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        children = [child(stage, src, root) for _ in range(n)]
    finally:
        for key, value in old.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    for proc, errors in children:
        code = proc.wait(timeout=300)
        errors.seek(0)
        assert code == 0, f"concurrent {stage} run failed:\n{errors.read()[-3000:].decode()}"
        FIGURES.add("storage_faults", "concurrent_runs")


def test_concurrent_local_runs_make_one_whole_copy(reference: SimpleNamespace, tmp_path) -> None:
    root = str(tmp_path / "root")
    for stage in STAGES:
        _run_together(stage, reference.src, root, {})
        assert snapshot(root, stage) == snapshot(reference.root, stage)
    leftovers = [p for p in Path(root).rglob(".tmp-*")]
    shard_dir = Path(root) / "datasets" / NAME / "shards"
    assert not [p for p in leftovers if p.parent == shard_dir], leftovers


@pytest.fixture(scope="module")
def s3():
    with moto_s3() as server:
        yield server


@pytest.mark.slow
def test_concurrent_s3_runs_make_one_whole_copy(reference: SimpleNamespace, s3) -> None:
    root = f"{s3.bucket_url}/concurrent"
    env = {"FSSPEC_S3_ENDPOINT_URL": s3.endpoint_url, "AWS_ACCESS_KEY_ID": TEST_KEY,
           "AWS_SECRET_ACCESS_KEY": TEST_SECRET}  # fmt: skip
    storage.configure_s3(**s3.storage_options)
    try:
        for stage in STAGES:
            _run_together(stage, reference.src, root, env)
        for folder in (f"datasets/{NAME}/shards", f"densepose/{NAME}/studio"):
            got = {u.rsplit("/", 1)[1]: u for u in storage.ls(storage.join(root, folder))}
            local = Path(reference.root) / folder
            want = sorted(p.name for p in local.iterdir())
            assert sorted(got) == want  # no duplicate, no temp, nothing missing
            for name, url in got.items():
                if not name.endswith(".done.json"):
                    assert storage.read_bytes(url) == (local / name).read_bytes(), name
            for url in shards.shard_urls(storage.join(root, folder)):
                assert storage.is_committed(url, storage.read_marker(url)["fingerprint"])
    finally:
        storage.configure_s3()


_APPEND = """
import sys
from dpt_core import storage
failures = [storage.Failure(f"{sys.argv[2]}-{i}", "src", "extract", "no person") for i in range(3)]
storage.append_failures(sys.argv[1], "extract", "race", failures)
"""


def test_concurrent_failure_appends_on_s3_lose_no_row(s3) -> None:
    """Three processes append to one S3 failures log while every read of it is held 0.5 s,
    so all three read the same old version: each row must still end up in the log."""
    root = f"{s3.bucket_url}/race"
    plan = FaultPlan(slow=r"GET \S*failures/extract/race\.parquet", slow_s=0.5)
    with fault_proxy(s3.endpoint_url, plan) as proxy:
        env = {**os.environ, "FSSPEC_S3_ENDPOINT_URL": proxy.url, "AWS_ACCESS_KEY_ID": TEST_KEY,
               "AWS_SECRET_ACCESS_KEY": TEST_SECRET,
               "PYTHONPATH": f"{HERE}{os.pathsep}{REPO}"}  # fmt: skip
        procs = [
            subprocess.Popen([sys.executable, "-c", _APPEND, root, f"w{i}"], env=env, cwd=REPO)
            for i in range(3)
        ]
        assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    storage.configure_s3(**s3.storage_options)
    try:
        keys = sorted(f.key for f in storage.read_failures(root, "extract", "race"))
    finally:
        storage.configure_s3()
    assert keys == sorted(f"w{w}-{i}" for w in range(3) for i in range(3))
    FIGURES.add("storage_faults", "concurrent_appends", 3)


def test_cleanup_keeps_a_temp_file_still_being_written(tmp_path) -> None:
    """A finishing run removes temp files of killed writers, never a live writer's."""
    orphan = tmp_path / f"{storage.TEMP_PREFIX}dead-x-00001.tar"
    orphan.write_bytes(b"left by a killed run")
    with storage.open_atomic(str(tmp_path / "x-00002.tar")) as stream:
        stream.write(b"half")
        live = [p for p in tmp_path.iterdir() if p.name.endswith("x-00002.tar")]
        assert storage.remove_stale_temps(str(tmp_path)) == [str(orphan)]
        assert [p.exists() for p in live] == [True]
        stream.write(b" and the rest")
    assert (tmp_path / "x-00002.tar").read_bytes() == b"half and the rest"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x-00002.tar"]
