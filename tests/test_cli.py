"""The `dpt` command line: one entry point whose help lists the stages in DAG order."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from dpt_core import __version__
from dpt_core.cli import app

runner = CliRunner()


def test_help_lists_every_stage_in_dag_order() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    stages = ["studio", "shard", "extract", "textures", "pairs", "train", "render", "eval"]
    positions = [result.output.index(f"  {stage} ") for stage in stages]
    assert positions == sorted(positions)
    for command in [*stages, "reid-augment", "ls", "densepose"]:
        assert runner.invoke(app, [command, "--help"]).exit_code == 0, command


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"dpt {__version__}"


def test_console_script_is_installed() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dpt_core.cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert __version__ in out.stdout


def test_unknown_command_is_a_clear_error() -> None:
    result = runner.invoke(app, ["no-such-stage"])
    assert result.exit_code != 0
    assert "No such command" in result.output
