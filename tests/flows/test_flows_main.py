"""The whole DAG (dpt-main) at tiny scale: every stage's counts against the studio truth."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from flows_setup import IDENTITIES, POSES, RENDERS, SHARD_SIZE, VIEWS

from flows.main import parse_args


def test_preprocess_counts_match_the_studio_data(demo_run, studio_manifest):
    samples = IDENTITIES * POSES * VIEWS
    assert len(studio_manifest) == samples
    stages = demo_run["preprocess"]["stages"]
    for stage in ("shard", "extract", "textures"):
        counts = stages[stage]
        assert counts["shards"] == math.ceil(samples / SHARD_SIZE), stage
        assert (counts["written"], counts["skipped"], counts["samples"]) == (3, 0, samples)
        assert counts["failures"] == {}
    assert demo_run["preprocess"]["up_to_date"] is False


def test_pairs_follow_the_identity_split(demo_run, studio_manifest):
    per_person = Counter((r["person_id"], r["split"]) for r in studio_manifest)
    for split in ("train", "test"):
        sizes = [n for (_, s), n in per_person.items() if s == split]
        assert demo_run["pairs"]["pairs"][split] == sum(n * (n - 1) for n in sizes)
        assert demo_run["pairs"]["persons"][split] == len(sizes)


def test_training_ran_every_step_and_saved_a_checkpoint(demo_run):
    train = demo_run["train"]
    assert train["step"] == 6  # tiny.yaml: 2 + 2 + 2 steps
    assert Path(train["checkpoint"]).is_file()
    assert train["checkpoint"].endswith("step-000006.pt")
    assert pq.read_table(train["metrics_url"]).num_rows == 6  # log_every: 1


def test_render_and_report(demo_run):
    render = demo_run["render"]
    assert (render["samples"], render["shards"], render["written"]) == (RENDERS, 1, 1)
    assert render["url"] == f"{demo_run['out']}/renders/studio-tiny/test-pairs"
    report = Path(demo_run["report"])
    assert report.is_file() and report.name == "report.html"
    html = report.read_text()
    assert "<html" in html.lower()
    for branch in ("predictive", "warped", "blended", "texture"):  # every branch is compared
        assert f'<td class="name">{branch}</td>' in html, branch
    assert demo_run["evaluate"]["images"] == RENDERS


def test_command_line_defaults_and_overrides():
    args = parse_args([])
    assert (args.out, args.identities, args.config) == ("data/demo", 8, "configs/train/demo.yaml")
    args = parse_args(["--out", "x", "--identities", "2", "--train-override", "a=1",
                       "--train-override", "b=2"])  # fmt: skip
    assert (args.out, args.identities, args.train_override) == ("x", 2, ["a=1", "b=2"])
