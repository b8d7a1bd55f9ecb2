"""``dpt reid-augment`` (the typer function) and the Prefect flow ``augment-reid``."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import typer
from typer.testing import CliRunner

from dpt_core.reid.cli import reid_augment

GENERATED = re.compile(r"^(\d{4})_c[1-6]s9_\d{6}_01\.jpg$")


def _generated(folder) -> Counter:
    return Counter(m.group(1) for p in folder.iterdir() if (m := GENERATED.match(p.name)))


def _invoke(*args: str):
    app = typer.Typer()
    app.command()(reid_augment)
    return CliRunner().invoke(app, list(args))


def _common(market_run, name: str) -> list[str]:
    inputs = market_run.inputs
    return ["--pose-bank", inputs.bank, "--iuv-source", "precomputed",
            "--precomputed", str(inputs.iuvs), "--work", str(market_run.dst / "_work"),
            "--name", name, "--per-identity", "2"]  # fmt: skip


def test_cli_refuses_to_run_without_a_checkpoint(market_run, tmp_path):
    result = _invoke(str(market_run.inputs.tree), str(tmp_path / "dst"), *_common(market_run, "x"))
    assert result.exit_code == 1
    assert "checkpoint: required" in result.output
    assert not (tmp_path / "dst").exists()


def test_cli_writes_the_augmented_tree(market_run, tmp_path):
    dst = tmp_path / "dst"
    args = [str(market_run.inputs.tree), str(dst), *_common(market_run, "cli")]
    result = _invoke(*args, "--checkpoint", market_run.inputs.checkpoint, "--size", "64x32")
    assert result.exit_code == 0, result.output
    assert "6 generated images of 3 identities (2 each)" in result.output
    assert _generated(dst / "bounding_box_train") == {"0002": 2, "0004": 2, "0006": 2}
    assert (dst / "augment_manifest.parquet").is_file() and (dst / "augment.json").is_file()
    bad = _invoke(*args, "--checkpoint", market_run.inputs.checkpoint, "--size", "64")
    assert bad.exit_code == 2 and "HEIGHTxWIDTH" in bad.output


def test_flow_augments_then_resumes_without_work(prefect_harness, market_run, tmp_path):
    from flows.augment_reid import augment_reid_flow

    inputs, dst = market_run.inputs, tmp_path / "dst"
    kwargs = {"src": str(inputs.tree), "dst": str(dst), "pose_bank": inputs.bank,
              "checkpoint": inputs.checkpoint, "per_identity": 2, "name": "flow",
              "work": str(market_run.dst / "_work"), "iuv_source": "precomputed",
              "precomputed_url": str(inputs.iuvs), "identities_per_shard": 2}  # fmt: skip
    first = augment_reid_flow(**kwargs)
    assert (first["shards"], first["written"], first["samples"], first["generated"]) == (2, 2, 6, 6)
    assert _generated(dst / "bounding_box_train") == {"0002": 2, "0004": 2, "0006": 2}
    again = augment_reid_flow(**kwargs)
    assert again["up_to_date"] and again["skipped_shards"] == 2 and again["generated"] == 6
    with pytest.raises(ValueError, match="checkpoint: required"):
        augment_reid_flow(**{**kwargs, "checkpoint": None})
