"""Market-1501 names, the reserved code, crop geometry, source/target choice, config errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dpt_core.reid.config import AugmentConfig
from dpt_core.reid.crop import crop_box, crop_resize, square_box
from dpt_core.reid.market import (
    MarketName,
    format_name,
    generated_name,
    is_generated,
    parse_name,
    person_code,
)
from dpt_core.reid.plan import choose_sources, choose_targets
from dpt_core.reid.sources import SourceRecord

MARKET_RE = re.compile(r"^([-\d]+)_c(\d)s(\d)_(\d{6})_(\d{2})\.jpg$")
TORCHREID_RE = re.compile(r"([-\d]+)_c(\d)")


def test_parse_and_format_round_trip():
    parsed = parse_name("bounding_box_train/0002_c1s1_000451_03.jpg")
    assert parsed == MarketName("0002", 1, 1, 451, 3)
    assert parsed.filename == "0002_c1s1_000451_03.jpg" and not parsed.generated
    assert parse_name("-1_c3s2_000009_02.jpg") == MarketName("-1", 3, 2, 9, 2)
    for bad in ("0002_c1s1_451_03.jpg", "2_c1s1_000451_03.jpg", "Thumbs.db", "0002_c10s1_0_1"):
        assert parse_name(bad) is None, bad


def test_generated_names_keep_person_and_camera_and_parse_everywhere():
    name = generated_name("0042", 5, 17)
    assert name == "0042_c5s9_000017_01.jpg"
    assert MARKET_RE.match(name).groups() == ("0042", "5", "9", "000017", "01")
    pid, camera = TORCHREID_RE.search(name).groups()
    assert (int(pid), int(camera)) == (42, 5) and 1 <= int(camera) <= 6  # torchreid's checks
    assert is_generated(name) and not is_generated("0042_c5s6_000017_01.jpg")
    assert not is_generated("not-a-market-name.jpg")


@pytest.mark.parametrize(
    ("args", "field"),
    [(("0000", 1, 0), "person"), (("-1", 1, 0), "person"), (("0001", 7, 0), "camera"),
     (("0001", 0, 0), "camera"), (("0001", 1, 1_000_000), "frame")],
)  # fmt: skip
def test_generated_name_refuses_fields_that_do_not_fit(args, field):
    with pytest.raises(ValueError, match=field):
        generated_name(*args)


def test_format_name_and_person_code_errors():
    with pytest.raises(ValueError, match="person"):
        format_name("12345", 1, 1, 0, 1)
    assert person_code(7) == "0007"
    with pytest.raises(ValueError, match="person number"):
        person_code(10_000)


def test_square_box_follows_fit_square():
    # 128 x 64 image padded to 128 x 128 (32 columns each side), resized to 64: scale 0.5.
    assert square_box((16, 8, 48, 120), 128, 64, 64) == (24.0, 4.0, 40.0, 60.0)
    # 48 x 64 (H x W): 8 rows top, resized to 32: scale 0.5.
    assert square_box((0, 0, 64, 48), 48, 64, 32) == (0.0, 4.0, 32.0, 28.0)


def test_crop_box_grows_to_the_aspect_and_stays_inside_the_square():
    # Body 16 x 56 in a 64 square, margin 0.1 -> 19.2 x 67.2; aspect 1:2 -> 33.6 x 67.2;
    # the height is cut to 64 and the box shifted to start at row 0.
    x0, y0, x1, y1 = crop_box((24, 4, 40, 60), (128, 64), 0.1, 64)
    assert (x0, y0, x1, y1) == pytest.approx((15.2, 0.0, 48.8, 64.0))
    # A small box: 10 x 10 at (50, 50), margin 0 -> 10 x 20, shifted up to fit: rows 44..64.
    assert crop_box((50, 50, 60, 60), (128, 64), 0.0, 64) == pytest.approx((50, 44, 60, 64))
    # No body: the centred 1:2 crop.
    assert crop_box((0, 0, 0, 0), (128, 64), 0.1, 64) == pytest.approx((16, 0, 48, 64))
    with pytest.raises(ValueError, match="margin"):
        crop_box((0, 0, 1, 1), (128, 64), -0.5, 64)


def test_crop_resize_takes_the_box_and_repeats_edges_outside():
    image = np.zeros((4, 4, 3), np.uint8)
    image[:, :, 0] = np.arange(4, dtype=np.uint8)[None, :] * 10  # red = 10 * column
    out = crop_resize(image, (1.0, 0.0, 3.0, 4.0), (4, 2))
    assert out.shape == (4, 2, 3) and out[..., 0].tolist() == [[10, 20]] * 4
    edge = crop_resize(image, (2.0, 0.0, 6.0, 4.0), (4, 4))  # columns 4, 5 repeat column 3
    assert edge[0, :, 0].tolist() == [20, 30, 30, 30]
    with pytest.raises(ValueError, match="image_hw3"):
        crop_resize(image.astype(np.float32), (0, 0, 1, 1), (2, 2))


def _record(key: str) -> SourceRecord:
    return SourceRecord(key, "0002", "0002", 1, "bounding_box_train", f"{key}.jpg")


def test_sources_best_coverage_first_and_empty_iuvs_dropped():
    records = [_record(k) for k in ("a", "b", "c", "d")]
    coverage = {"a": 0.1, "b": 0.3, "c": 0.0, "d": 0.3}
    assert [r.key for r in choose_sources(records, coverage, 3)] == ["b", "d", "a"]
    assert choose_sources(records, {}, 3) == []


def test_targets_are_distinct_seeded_per_person_and_bounded_by_the_bank():
    keys = [f"pose{i:02d}" for i in range(20)]
    first = choose_targets(keys, "0002", 5, seed=0)
    assert len(set(first)) == 5 and set(first) <= set(keys)
    assert choose_targets(keys, "0002", 5, seed=0) == first
    assert choose_targets(keys, "0004", 5, seed=0) != first
    assert choose_targets(keys, "0002", 5, seed=1) != first
    with pytest.raises(ValueError, match="per_identity: 21 poses asked, the pose bank has 20"):
        choose_targets(keys, "0002", 21, seed=0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"checkpoint": None}, "checkpoint: required"), ({"dst": "/data/market"}, "dst: must differ"),
     ({"per_identity": 0}, "per_identity"), ({"size": (128,)}, "size"),
     ({"iuv_source": "magic"}, "iuv_source"), ({"name": "a/b"}, "name"),
     ({"margin": -1.0}, "margin")],
)  # fmt: skip
def test_config_refuses_bad_settings(changes, message):
    args = {"src": "/data/market", "dst": "/data/out", "pose_bank": "/data/bank",
            "checkpoint": "/runs/x/checkpoints/step-000001.pt", **changes}  # fmt: skip
    with pytest.raises(ValueError, match=message):
        AugmentConfig(**args)


def test_config_extract_options_need_their_inputs():
    config = AugmentConfig("/a", "/b", "/c", "/ck.pt", iuv_source="detectron2")
    with pytest.raises(ValueError, match="weights"):
        config.extract_options()
    assert config.market_work_root() == "/b/_work"
