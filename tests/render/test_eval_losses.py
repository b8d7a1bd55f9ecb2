"""The report's line on perceptual/style losses: from ``runs/RUN/losses.json``, or for older
runs from ``config.yaml``; shown under the report's title."""

from __future__ import annotations

import json

from dpt_core.evaluate.report import build_report, losses_line

OFF = "off — no VGG-19 weights configured (losses.vgg_weights)"


def test_losses_line_from_the_record(tmp_path) -> None:
    on = "on — VGG-19 (caffe layout, caffe preprocessing) from /w/v"
    record = {"losses_active": ["l1", "perceptual", "style"], "perceptual_style": on}
    (tmp_path / "losses.json").write_text(json.dumps(record))
    assert losses_line(str(tmp_path)) == (
        "Perceptual/style losses: on — VGG-19 (caffe layout, caffe preprocessing) from /w/v; "
        "losses active: l1, perceptual, style"
    )


def test_losses_line_of_runs_without_a_record(tmp_path) -> None:
    assert losses_line(str(tmp_path)).endswith("unknown (no runs/RUN/losses.json or config.yaml)")
    (tmp_path / "config.yaml").write_text("losses: {l1: 1.0, vgg_weights: null}\n")
    assert losses_line(str(tmp_path)) == f"Perceptual/style losses: {OFF}"
    (tmp_path / "config.yaml").write_text("losses: {vgg_weights: /w/vgg19.pth}\n")
    expected = "Perceptual/style losses: VGG-19 weights configured (/w/vgg19.pth)"
    assert losses_line(str(tmp_path)) == expected


def test_report_shows_the_losses_line() -> None:
    info = {"run": "r", "name": "test", "checkpoint_url": "c", "step": 3, "scale": {"name": "tiny"},
            "image_size": 64, "atlas_n": 16, "dataset": "d", "target_dataset": "d"}  # fmt: skip
    line = f"Perceptual/style losses: {OFF}"
    page = build_report(info, [], {}, [], {}, line)
    assert f'<p class="meta" id="losses">{line}</p>' in page
    assert 'id="losses"' not in build_report(info, [], {}, [], {})
