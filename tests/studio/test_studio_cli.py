"""``dpt studio generate`` and ``dpt studio preview``."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
from PIL import Image
from typer.testing import CliRunner

from dpt_core.studio import render_samples
from dpt_core.studio.cli import app
from dpt_core.studio.preview import iuv_to_rgb, part_palette

runner = CliRunner()


def test_generate_writes_a_data_set_and_reports_it(tmp_path):
    out = tmp_path / "set"
    args = ["generate", "--out", str(out), "--identities", "2", "--poses", "1", "--views", "2",
            "--size", "32", "--no-background", "--unlit"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["samples"] == 4 and summary["test"] == 2
    assert pq.read_table(out / "manifest.parquet").num_rows == 4
    image = np.asarray(Image.open(out / "images" / "id00000_p000_v00.png"))
    mask = np.asarray(Image.open(out / "masks" / "id00000_p000_v00.png")) > 0
    assert image.shape == (32, 32, 3) and (image[~mask] == 0).all()  # --no-background: black


def test_generate_rejects_bad_counts(tmp_path):
    result = runner.invoke(app, ["generate", "--out", str(tmp_path), "--identities", "0"])
    assert result.exit_code != 0
    assert "identities" in result.output


def test_preview_writes_a_contact_sheet(tmp_path):
    sheet = tmp_path / "sheet.png"
    args = ["preview", "--out", str(sheet), "--identities", "1", "--poses", "1", "--views", "2",
            "--size", "48"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    image = np.asarray(Image.open(sheet))
    assert image.shape == (14 + 2 * 48, 4 * 48 + 48 * 4 // 6, 3)
    batch = render_samples(1, 1, 2, 48, 0)
    assert np.array_equal(image[14 : 14 + 48, :48], batch.rgb[0].permute(1, 2, 0).numpy())
    assert np.array_equal(image[14:62, 48:96], iuv_to_rgb(batch.iuv[0]))


def test_iuv_colouring_uses_the_part_palette():
    iuv = np.zeros((3, 2, 2), np.uint8)
    iuv[:, 0, 1] = (5, 200, 100)  # off the chart grid lines (every 1/8 of U and V)
    iuv[:, 1, 1] = (5, 0, 100)  # U = 0: on a grid line, darkened
    rgb = iuv_to_rgb(iuv).astype(int)
    assert (rgb[0, 0] == 0).all()
    brightness = 0.55 + 0.45 * 200 / 255
    assert np.abs(rgb[0, 1] - part_palette()[5] * brightness).max() <= 0.5
    assert np.abs(rgb[1, 1] - part_palette()[5] * 0.55 * 0.45).max() <= 0.5
    assert len({tuple(c) for c in part_palette()}) == 25
