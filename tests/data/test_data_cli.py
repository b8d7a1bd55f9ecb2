"""The data-plane commands as a user runs them: dpt shard, dpt pairs, dpt ls."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dpt_core.data.cli import ls, pairs, parse_bytes, parse_size, shard

app = typer.Typer()
app.command()(shard)
app.command()(pairs)
app.command()(ls)
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), terminal_width=200)


def test_shard_ls_pairs(photo_tree: Path, tmp_path: Path):
    root = str(tmp_path / "dpt")
    result = invoke("shard", "--layout", "image-folder", str(photo_tree), root, "--name", "photos",
                    "--max-count", "2", "--person-from-folder", "--workers", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "5 written in 4 shards" in result.output and "3 rejected" in result.output
    for line in ("rejected empty: 1", "rejected not_image: 1", "rejected truncated: 1"):
        assert line in result.output

    result = invoke("ls", root)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "photos" in line)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    assert cells[:4] == ["photos", "image-folder", "4", "5"] and cells[5] == "3"
    assert "truncated: 1" in result.output

    result = invoke("pairs", f"{root}/photos", "--test-fraction", "0")
    assert result.exit_code == 0, result.output
    # alice 3 images -> 6 pairs, bob 2 -> 2 pairs, carol's only image was rejected
    assert "train: 8 pairs of 2 persons" in result.output
    assert "test: 0 pairs of 0 persons" in result.output


def test_ls_of_one_dataset_and_errors(photo_tree: Path, tmp_path: Path):
    root = str(tmp_path / "dpt")
    assert invoke("shard", "--layout", "image-folder", str(photo_tree), root).exit_code == 0
    result = invoke("ls", f"{root}/datasets/photos")
    assert result.exit_code == 0 and "photos" in result.output
    result = invoke("ls", str(tmp_path / "nothing" / "here"))
    assert result.exit_code == 1 and "no datasets at" in result.output


def test_user_errors_exit_1_with_a_message(photo_tree: Path, tmp_path: Path):
    result = invoke("shard", "--layout", "coco", str(photo_tree), str(tmp_path))
    assert result.exit_code == 1 and "unknown layout 'coco'" in result.output
    result = invoke("shard", "--layout", "studio", str(photo_tree), str(tmp_path))
    assert result.exit_code == 1 and "manifest.parquet" in result.output
    result = invoke("shard", "--layout", "image-folder", str(photo_tree), str(tmp_path),
                    "--max-bytes", "lots")  # fmt: skip
    assert result.exit_code == 2 and "500MB" in result.output
    result = invoke("pairs", str(tmp_path / "missing"))
    assert result.exit_code == 1 and "no shard folder" in result.output


def test_size_and_bytes_parsing():
    assert parse_size("auto", (256, 256)) == (256, 256)
    assert parse_size("none", (256, 256)) is None
    assert parse_size("128", None) == (128, 128)
    assert parse_size("256x176", None) == (256, 176)
    assert parse_bytes("500MB") == 500_000_000 and parse_bytes("1GiB") == 2**30
    assert parse_bytes("4096") == 4096
    with pytest.raises(typer.BadParameter):
        parse_size("big", None)
    with pytest.raises(typer.BadParameter):
        parse_bytes("0")
