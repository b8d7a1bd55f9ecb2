"""Task logic through ``.fn()`` (no task run) and the artifacts the flows publish."""

from __future__ import annotations

from pathlib import Path

import pytest
from flows_setup import IDENTITIES, POSES, VIEWS
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from tasks.artifacts import artifact_key, count_shards
from tasks.data import dataset_shards, plan_dataset
from tasks.studio import generate_studio_task


def test_dataset_shards_lists_indices_or_names_the_folder(demo_run, tmp_path):
    assert dataset_shards.fn(demo_run["out"], "studio") == [0, 1, 2]
    with pytest.raises(FileNotFoundError, match=r"no shards of data set 'other' in .*other"):
        dataset_shards.fn(str(tmp_path), "other")


def test_plan_dataset_packs_sorted_keys(demo_run):
    src = f"{demo_run['out']}/sources/studio"
    plan = plan_dataset.fn("studio", src, demo_run["out"], "studio", 5, 10**9)
    assert [len(p.samples) for p in plan.shards] == [5, 5, 2]
    keys = [s.key for p in plan.shards for s in p.samples]
    assert keys == sorted(keys) and keys[0] == "id00000_p000_v00"


def test_studio_is_not_rendered_twice(demo_run, tmp_path):
    src = f"{demo_run['out']}/sources/studio"
    again = generate_studio_task.fn(src, IDENTITIES, POSES, VIEWS, 64)
    assert again["skipped"] is True
    other = generate_studio_task.fn(str(tmp_path / "s"), 1, 1, 1, 16)
    assert other["skipped"] is False and other["samples"] == 1
    assert (tmp_path / "s" / "studio.json").is_file()


def test_counts_from_shard_summaries():
    rows = [{"skipped": True, "count": 4}, {"skipped": False, "count": 3}, {"count": 0}]
    counts = count_shards("render", "set", rows, {"missing target": 1})
    assert (counts.shards, counts.written, counts.skipped, counts.samples) == (3, 2, 1, 7)
    assert artifact_key("Render", "test_pairs", "/tmp/x") == "render-test-pairs-tmp-x"


def _artifact(key: str):
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(
            any_=[key])))  # fmt: skip
    assert found, f"no artifact {key!r}"
    return found[-1]


def test_flows_publish_counts_failures_and_the_report_link(demo_run):
    counts = _artifact("shard-studio-counts")
    assert counts.type == "table" and "studio-00000" in str(counts.data)
    failures = _artifact("textures-studio-failures")
    assert failures.type == "table" and "(none)" in str(failures.data)
    report = _artifact("evaluate-studio-tiny-test-pairs-report")
    assert report.type == "markdown"  # Prefect stores link artifacts as markdown links
    assert f"file://{Path(demo_run['report']).resolve()}" in str(report.data)
