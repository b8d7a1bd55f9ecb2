"""``dpt render`` and ``dpt eval`` through typer, as the lead mounts them."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from render_setup import BANK
from typer.testing import CliRunner

from dpt_core import storage
from dpt_core.data import shards
from dpt_core.evaluate import IMAGE_BRANCHES, TEXTURE_BRANCHES
from dpt_core.evaluate import cli as evaluate_cli
from dpt_core.render import cli as render_cli


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    cli = typer.Typer()
    cli.command("render")(render_cli.render)
    cli.command("eval")(evaluate_cli.eval)
    return cli


def test_render_then_eval(app, tiny_root):
    runner = CliRunner()
    args = ["render", tiny_root.checkpoint, tiny_root.root, "--name", "cli", "--limit", "2",
            "--branches", "all", "--shard-size", "1"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 renders in 2 shards (2 rendered, 0 already committed), 0 failures" in result.output
    again = runner.invoke(app, args)
    assert "(0 rendered, 2 already committed)" in again.output
    url = storage.join(tiny_root.root, "renders", "tiny-run", "cli")
    result = runner.invoke(app, ["eval", url, "--grid", "1"])
    assert result.exit_code == 0, result.output
    assert "report:" in result.output and "blended" in result.output
    summary = pq.read_table(storage.join(url, "eval", "summary.parquet"))
    assert summary.column("branch").to_pylist() == [*IMAGE_BRANCHES, *TEXTURE_BRANCHES]


def test_render_requests_file_and_pose_bank(app, tiny_root, tmp_path):
    requests = tmp_path / "requests.csv"
    requests.write_text("source_key,target_key\nid00001_p000_v00,id00000_p001_v01\n")
    args = ["render", tiny_root.run_url, tiny_root.root, "--name", "cli-bank",
            "--requests", str(requests), "--pose-bank", BANK]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    url = storage.join(tiny_root.root, "renders", "tiny-run", "cli-bank", "cli-bank-00000.tar")
    rows = shards.read_manifest(shards.shard_manifest_url(url)).to_pylist()
    assert [(r["source_key"], r["target_key"], r["target_dataset"]) for r in rows] == [
        ("id00001_p000_v00", "id00000_p001_v01", BANK)
    ]
    parquet = tmp_path / "requests.parquet"
    pq.write_table(pa.table({"source_key": ["id00001_p000_v00"], "target_key": ["x"]}), parquet)
    args[args.index("--requests") + 1] = str(parquet)
    args[args.index("--name") + 1] = "cli-bank-missing"
    result = CliRunner().invoke(app, args)
    assert "0 renders in 1 shards" in result.output and "1 failures" in result.output


def test_errors_exit_with_one_line(app, tiny_root, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["render", tiny_root.checkpoint, tiny_root.root,
                                 "--branches", "depth"])  # fmt: skip
    assert result.exit_code != 0 and "depth" in result.output
    missing = str(tmp_path / "nowhere")
    result = runner.invoke(app, ["eval", missing])
    assert result.exit_code == 1 and "error:" in result.output and "nowhere" in result.output
    result = runner.invoke(app, ["render", f"{missing}/runs/r", tiny_root.root])
    assert result.exit_code == 1 and "no checkpoint found" in result.output
