"""Fixtures of the flow tests: one whole-DAG run (tiny scale) shared by the session."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from flows_setup import IDENTITIES, POSES, RENDERS, SHARD_SIZE, TINY_CONFIG, VIEWS


@pytest.fixture(scope="session")
def demo_run(prefect_harness, tmp_path_factory) -> dict:
    """``dpt-main`` on 3 × 2 × 2 studio samples at tiny scale; its result and ``out`` root."""
    from flows.main import dpt_main

    out = str(tmp_path_factory.mktemp("dpt-main") / "root")
    result = dpt_main(
        out, IDENTITIES, POSES, VIEWS, TINY_CONFIG, shard_size=SHARD_SIZE, renders=RENDERS
    )
    return {"out": out, **result}


@pytest.fixture(scope="session")
def studio_manifest(demo_run) -> list[dict]:
    """Rows of the studio data set's ``manifest.parquet`` (the ground truth of the run)."""
    src = Path(demo_run["out"]) / "sources" / "studio" / "manifest.parquet"
    return pq.read_table(src).to_pylist()
