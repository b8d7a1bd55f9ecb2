"""``dpt extract`` and ``dpt densepose show`` through typer, as a user runs them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from dpt_core.densepose import cli
from dpt_core.densepose.cli import densepose_app, extract, split_dataset_url
from dpt_core.densepose.stage import output_shard_url

app = typer.Typer()
app.command("extract")(extract)
app.add_typer(densepose_app, name="densepose")
runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args))


def test_split_dataset_url():
    assert split_dataset_url("s3://bucket/dpt/datasets/market/") == ("s3://bucket/dpt", "market")
    assert split_dataset_url("datasets/studio") == (".", "studio")
    with pytest.raises(ValueError, match="ROOT/datasets/NAME"):
        split_dataset_url("/data/studio")


def test_missing_weights_is_one_error_line(studio_root):
    result = _run("extract", f"{studio_root}/datasets/studio", "--weights", "/nope/model.pth")
    assert result.exit_code == 1
    assert result.output.strip() == "error: DensePose weights not found: /nope/model.pth"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "error: weights: required for source 'detectron2'"),
        (("--source", "openpose"), "error: --source: expected one of detectron2"),
        (("--source", "studio", "--people", "two"), "error: --people: expected one of all"),
        (("--source", "studio", "--overlap", "first"), "error: --overlap: expected one of"),
        (("--source", "studio", "--detections", "all"), "error: --detections: expected one of"),
        (
            ("--weights", "w.pth", "--people", "each", "--overlap", "detectron"),
            "error: overlap: 'detectron' combines detected people",
        ),
    ],
)
def test_bad_options_are_one_error_line(studio_root, args, message):
    result = _run("extract", f"{studio_root}/datasets/studio", *args)
    assert result.exit_code == 1
    assert result.output.strip().startswith(message) and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), (0.8, 10, "score")),
        (("--detections", "apply-net-dump"), (0.05, 100, "score")),
        (("--detections", "apply-net-show"), (0.8, 100, "score")),
        (("--detections", "apply-net-dump", "--score-threshold", "0.3"), (0.3, 100, "score")),
        (("--max-people", "2", "--overlap", "detectron"), (0.8, 2, "detectron")),
    ],
)
def test_detection_presets_and_overlap_reach_the_options(studio_root, monkeypatch, args, expected):
    seen = []
    monkeypatch.setattr(cli, "extract_dataset", lambda root, name, opts: seen.append(opts) or [])
    result = _run("extract", f"{studio_root}/datasets/studio", "--weights", "w.pth", *args)
    assert result.exit_code == 0, result.output
    (options,) = seen
    assert (options.score_threshold, options.max_people, options.overlap) == expected


def test_help_documents_both_detection_defaults_and_overlap_rules():
    text = " ".join(_run("extract", "--help").output.replace("│", " ").split())
    assert "dpt = score >= 0.8, at most 10 per image" in text
    assert "apply-net-dump = score >= 0.05, at most 100 per image" in text
    assert "score = the higher detection score wins" in text and "_IUV.png writer" in text


def test_configs_lists_every_shipped_config():
    from dpt_core.densepose.config import CONFIG_DIR

    result = _run("densepose", "configs")
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.output.strip().splitlines()]
    yamls = sorted(p.stem for p in CONFIG_DIR.glob("densepose_rcnn_*.yaml"))
    assert sorted(listed) == yamls and len(listed) == 6  # R50/R101 x (s1x, DL, legacy)
    assert "densepose_rcnn_R_101_FPN_DL_s1x" in listed


def test_pickle_weights_need_trust(studio_root, tmp_path):
    fake = tmp_path / "model_final_162be9.pkl"
    fake.write_bytes(b"\x80\x04N.")  # pickle of None: never unpickled without --trust-pickle
    result = _run("extract", f"{studio_root}/datasets/studio", "--weights", str(fake))
    assert result.exit_code == 1
    assert "--trust-pickle" in result.output and len(result.output.strip().splitlines()) == 1


def test_extract_studio_then_show(studio_root, tmp_path):
    result = _run("extract", f"{studio_root}/datasets/studio", "--source", "studio")
    assert result.exit_code == 0, result.output
    assert "1 shards (0 up to date): 2 IUV images, 1 failures" in result.output
    again = _run("extract", f"{studio_root}/datasets/studio", "--source", "studio")
    assert "(1 up to date)" in again.output
    shard = output_shard_url(studio_root, "studio", "studio", 0)
    images = f"{studio_root}/datasets/studio/shards/studio-00000.tar"
    out = tmp_path / "overlays"
    shown = _run("densepose", "show", shard, "--out", str(out), "--images", images)
    assert shown.exit_code == 0, shown.output
    files = sorted(out.glob("*.png"))
    assert len(files) == 2
    panel = cv2.imread(str(files[0]))
    assert panel.shape == (128, 3 * 128, 3)
    photo = panel[:, :128]
    assert photo.any() and not np.array_equal(panel[:, 128:256], photo)  # parts drawn on it


def test_show_one_iuv_png(tmp_path):
    from dpt_core import iuv

    iuv_hw3 = np.zeros((8, 8, 3), np.uint8)
    iuv_hw3[2:6, 2:6] = [4, 100, 50]
    iuv.write_iuv(str(tmp_path / "x.iuv.png"), iuv_hw3)
    result = _run("densepose", "show", str(tmp_path / "x.iuv.png"), "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(tmp_path / "o" / "x.png")).shape == (8, 24, 3)
    missing = _run("densepose", "show", str(tmp_path / "nope.png"))
    assert missing.exit_code == 1 and missing.output.startswith("error:")
