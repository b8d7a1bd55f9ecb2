"""An in-process S3 server (moto) for tests that need a real S3 endpoint.

Use the context manager directly, or make a fixture in a test module::

    from s3_server import moto_s3, s3_fixture

    s3 = s3_fixture()  # module-scoped fixture yielding S3Server

    def test_x(s3):
        storage.configure_s3(**s3.storage_options)
        storage.write_bytes(f"{s3.bucket_url}/a.bin", b"...")
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
import s3fs
from moto.server import ThreadedMotoServer

TEST_KEY = "dpt-test-key"
TEST_SECRET = "dpt-test-secret-never-logged"


class S3Server(NamedTuple):
    """A running moto server: endpoint, an empty bucket on it, and s3fs options to reach it."""

    endpoint_url: str
    bucket_url: str
    storage_options: dict[str, Any]


@contextlib.contextmanager
def moto_s3(bucket: str | None = None) -> Iterator[S3Server]:
    """Start moto on a free local port with one empty bucket; stop it on exit."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        options = {"endpoint_url": endpoint, "key": TEST_KEY, "secret": TEST_SECRET}
        bucket = bucket or f"dpt-test-{uuid.uuid4().hex[:12]}"
        # No region: moto (like us-east-1) refuses a LocationConstraint of us-east-1.
        s3fs.S3FileSystem(skip_instance_cache=True, **options).mkdir(bucket)
        yield S3Server(endpoint, f"s3://{bucket}", options)
    finally:
        server.stop()


def s3_fixture(scope: str = "module", bucket: str | None = None):
    """A pytest fixture (assign it to a module-level name) yielding a running :class:`S3Server`."""

    @pytest.fixture(scope=scope)
    def _s3() -> Iterator[S3Server]:
        with moto_s3(bucket) as server:
            yield server

    return _s3
