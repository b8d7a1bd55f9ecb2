"""render-batch maps one task per output shard; its outputs are real PNGs with manifest rows."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from prefect.exceptions import ParameterTypeError

from dpt_core.data import iter_shard
from flows.render_batch import render_batch_flow


def test_render_batch_shards_pngs_and_manifest(demo_run):
    out, checkpoint = demo_run["out"], demo_run["train"]["checkpoint"]
    result = render_batch_flow(out, checkpoint, name="two-shards", limit=3, shard_size=2,
                               branches=["warp"])  # fmt: skip
    assert (result["shards"], result["written"], result["samples"]) == (2, 2, 3)
    folder = Path(result["url"])
    assert folder == Path(out, "renders", "studio-tiny", "two-shards")
    test_pairs = pq.read_table(Path(out, "pairs", "studio", "test.parquet")).to_pylist()
    known = {(p["source_key"], p["target_key"]) for p in test_pairs}
    rows = []
    for index in (0, 1):
        shard = folder / f"two-shards-{index:05d}.tar"
        for sample in iter_shard(str(shard)):
            for ext in ("png", "warp.png"):
                image = cv2.imdecode(np.frombuffer(sample[ext], np.uint8), cv2.IMREAD_COLOR)
                assert image.shape == (64, 64, 3), ext
        rows += pq.read_table(folder / f"two-shards-{index:05d}.parquet").to_pylist()
    assert len(rows) == 3
    assert all((r["source_key"], r["target_key"]) in known for r in rows)
    assert {r["key"] for r in rows} == {f"{r['source_key']}__{r['target_key']}" for r in rows}
    again = render_batch_flow(out, checkpoint, name="two-shards", limit=3, shard_size=2,
                              branches=["warp"])  # fmt: skip
    assert (again["written"], again["skipped"], again["up_to_date"]) == (0, 2, True)


def test_bad_parameters_fail_before_any_work(demo_run):
    out, checkpoint = demo_run["out"], demo_run["train"]["checkpoint"]
    with pytest.raises(ParameterTypeError, match="branches"):
        render_batch_flow(out, checkpoint, name="never", branches=["sparkles"])
    with pytest.raises(ParameterTypeError, match="limit"):
        render_batch_flow(out, checkpoint, name="never", limit=0)
    assert not Path(out, "renders", "studio-tiny", "never").exists()


def test_a_missing_checkpoint_is_named(demo_run, tmp_path):
    missing = str(tmp_path / "runs" / "nope" / "checkpoints" / "step-000001.pt")
    with pytest.raises(FileNotFoundError, match=r"step-000001\.pt"):
        render_batch_flow(demo_run["out"], missing, name="never")
