"""preprocess is incremental: nothing new -> no work (and it says so); a changed input -> only
the shard that holds it is redone, and the bad sample lands in the failures log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dpt_core import storage
from flows.preprocess import preprocess_flow
from tasks.artifacts import StageCounts

STAGES = ("shard", "extract", "textures")


def _markers(root: Path) -> dict[str, str]:
    """Stage marker -> its recorded commit time, for every committed shard under ``root``."""
    return {str(p): json.loads(p.read_text())["time"] for p in root.rglob("*.done.json")}


@pytest.fixture
def fresh_copy(demo_run, tmp_path) -> tuple[str, str]:
    """(studio source copy, empty root) so a test may change inputs."""
    src = tmp_path / "studio"
    shutil.copytree(Path(demo_run["out"]) / "sources" / "studio", src)
    return str(src), str(tmp_path / "root")


def test_rerun_with_nothing_new_does_no_work(demo_run):
    out = demo_run["out"]
    before = _markers(Path(out))
    result = preprocess_flow(f"{out}/sources/studio", out, n=16, max_count=4)
    assert result["up_to_date"] is True
    for stage in STAGES:
        counts = result["stages"][stage]
        assert (counts["written"], counts["skipped"]) == (0, 3), stage
        assert counts["up_to_date"] is True
    assert _markers(Path(out)) == before  # no output was rewritten


def test_a_changed_input_redoes_only_its_shard(prefect_harness, fresh_copy):
    src, root = fresh_copy
    first = preprocess_flow(src, root, n=16, max_count=4)
    assert [first["stages"][s]["written"] for s in STAGES] == [3, 3, 3]
    bad_key = "id00000_p001_v00"  # sorted keys, 4 per shard: shard 0
    Path(src, "images", f"{bad_key}.png").write_bytes(b"not a png at all")
    second = preprocess_flow(src, root, n=16, max_count=4)
    shard = second["stages"]["shard"]
    assert (shard["written"], shard["skipped"], shard["samples"]) == (1, 2, 11)
    assert sum(shard["failures"].values()) == 1
    failures = storage.read_failures(root, "shard", "studio")
    assert [f.key for f in failures] == [bad_key]
    assert [second["stages"][s]["written"] for s in ("extract", "textures")] == [1, 1]
    assert second["up_to_date"] is False


def test_stage_counts_say_what_happened():
    idle = StageCounts("extract", "studio", 3, 0, 3, 12)
    assert idle.up_to_date and idle.describe() == "extract: nothing to do, all 3 shards up to date"
    busy = StageCounts("extract", "studio", 3, 1, 2, 12, {"no person": 2})
    assert not busy.up_to_date
    assert busy.describe() == (
        "extract: 1 shards written, 2 up to date, 12 samples, failures {'no person': 2}"
    )
    assert not StageCounts("extract", "studio", 0, 0, 0, 0).up_to_date  # empty: not "done"
