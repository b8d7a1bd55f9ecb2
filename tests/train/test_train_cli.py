"""``dpt textures`` and ``dpt train`` as command functions on a typer app."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from dpt_core import storage
from dpt_core.textures.cli import textures
from dpt_core.train.cli import train

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "train" / "tiny.yaml")


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("textures")(textures)
    app.command("train")(train)
    return app


def test_textures_command(app: typer.Typer, studio_root: str) -> None:
    result = CliRunner().invoke(
        app, ["textures", f"{studio_root}/datasets/studio", "--scale", "tiny"]
    )
    assert result.exit_code == 0, result.output
    assert "studio: 5 shard(s), 0 written, 18 textures (n=16)" in result.output
    bad = CliRunner().invoke(app, ["textures", f"{studio_root}/datasets/nope", "--n", "8"])
    assert bad.exit_code == 1 and "error: no shard folder" in bad.output
    both = CliRunner().invoke(
        app, ["textures", f"{studio_root}/datasets/studio", "--n", "8", "--scale", "tiny"]
    )
    assert both.exit_code == 1 and "give --n or --scale" in both.output


def test_train_command(app: typer.Typer, studio_root: str) -> None:
    args = ["train", "--config", CONFIG, "--set", f"root={studio_root}", "--set", "run=cli"]
    shown = CliRunner().invoke(app, [*args, "--set", "seed=4", "--show-config"])
    assert shown.exit_code == 0 and yaml.safe_load(shown.output)["seed"] == 4
    result = CliRunner().invoke(app, [*args, "--stop-at", "2"])
    assert result.exit_code == 0, result.output
    assert "cli: step 2" in result.output and "step-000002.pt" in result.output
    assert storage.exists(f"{studio_root}/runs/cli/metrics.parquet")


def test_train_command_names_a_missing_input(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--config", CONFIG, "--set", f"root={tmp_path}"])
    assert result.exit_code == 1
    assert "error: training input not found: data set shards" in result.output
    assert str(tmp_path / "datasets") in result.output
