"""Session-wide test set-up: an isolated Prefect home; the real services when CI runs them."""

from __future__ import annotations

import os
import tempfile

import pytest

# Prefect must never touch the user's ~/.prefect or phone home during tests.
_PREFECT_HOME = tempfile.mkdtemp(prefix="dpt-test-prefect-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "dpt_core")


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test server for every flow test of the session (≈ 12 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture(scope="session")
def real_s3_endpoint() -> str:
    """Endpoint of the real S3 server started by `infra/s3_server.sh` (CI starts it).

    Skips locally when it is not running; in CI a missing server is an error, not a skip.
    """
    endpoint = os.environ.get("DPT_TEST_S3_ENDPOINT")
    if not endpoint:
        if os.environ.get("CI"):
            pytest.fail("CI must start the S3 server (infra/s3_server.sh) and export its env")
        pytest.skip("no real S3 server: run `make up` and `eval $(infra/s3_server.sh env)`")
    return endpoint
