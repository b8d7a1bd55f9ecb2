"""IUV convention: file channel order, quantisation, validation."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from dpt_core import iuv


def _tiny_iuv() -> np.ndarray:
    """2x3 IUV image: background, then parts 1, 24, 7 with known U/V."""
    labels = np.array([[0, 1, 24], [7, 0, 2]], dtype=np.int64)
    u = np.array([[0.9, 0.0, 1.0], [0.5, np.nan, 0.2]])
    v = np.array([[0.3, 1.0, 0.0], [0.25, 0.4, 0.999]])
    return iuv.iuv_from_float(labels, u, v)


def test_part_names_cover_every_part_once() -> None:
    assert iuv.N_PARTS == 24
    assert sorted(iuv.PART_NAMES) == list(range(1, 25))
    assert len(set(iuv.PART_NAMES.values())) == 24
    assert iuv.PART_NAMES[1] == "torso_back" and iuv.PART_NAMES[2] == "torso_front"
    assert iuv.PART_NAMES[3] == "right_hand" and iuv.PART_NAMES[5] == "left_foot"


def test_iuv_from_float_hand_values() -> None:
    iuv_hw3 = _tiny_iuv()
    assert iuv_hw3.dtype == np.uint8 and iuv_hw3.shape == (2, 3, 3)
    # detectron2: uint8((float32(x) * 255).clamp(0, 255)), i.e. truncation:
    # 0.5*255 = 127.5 -> 127, 0.25*255 = 63.75 -> 63, 0.2*255 = 51.0000008 (float32 51.0) -> 51,
    # 0.999*255 = 254.745 -> 254, 1.0 -> 255
    expected = [
        [[0, 0, 0], [1, 0, 255], [24, 255, 0]],
        [[7, 127, 63], [0, 0, 0], [2, 51, 254]],
    ]
    np.testing.assert_array_equal(iuv_hw3, np.array(expected, dtype=np.uint8))


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (0.999, 254),  # 254.745 truncated (rounding would give 255)
        (0.5, 127),  # 127.5 truncated (rounding half to even would give 128)
        (1 / 255, 1),  # float32(1/255) = 0.0039215689; x 255 = 1.00000006 -> float32 1.0 -> 1
        (0.0039, 0),  # 0.9945 truncated (rounding would give 1)
        (254.5 / 255, 254),  # 254.5 truncated
        (0.0, 0),
        (1.0, 255),
    ],
)
def test_quantisation_truncates_like_densepose(value: float, level: int) -> None:
    assert iuv.quantize_uv(np.array([value]))[0] == level
    labels = np.ones((1, 1), dtype=np.int64)
    coord = np.full((1, 1), value)
    assert iuv.iuv_from_float(labels, coord, coord)[0, 0].tolist() == [1, level, level]


def test_quantisation_clamps_and_zeroes_nan() -> None:
    levels = iuv.quantize_uv(np.array([-0.2, 1.7, np.nan], dtype=np.float32))
    assert levels.dtype == np.uint8 and levels.tolist() == [0, 255, 0]


def test_iuv_to_float_hand_values() -> None:
    labels, u, v = iuv.iuv_to_float(_tiny_iuv())
    assert labels.dtype == np.uint8 and u.dtype == np.float32 and v.dtype == np.float32
    np.testing.assert_array_equal(labels, [[0, 1, 24], [7, 0, 2]])
    np.testing.assert_allclose(u[1], [127 / 255, 0.0, 51 / 255], rtol=1e-7)
    np.testing.assert_allclose(v[0], [0.0, 1.0, 0.0], rtol=1e-7)


@settings(max_examples=60, deadline=None)
@given(
    labels=hnp.arrays(np.int16, (5, 7), elements=st.integers(0, 24)),
    u=hnp.arrays(np.float64, (5, 7), elements=st.floats(0.0, 1.0)),
    v=hnp.arrays(np.float32, (5, 7), elements=st.floats(0.0, 1.0, width=32)),
)
def test_float_round_trip_loses_less_than_one_level(labels, u, v) -> None:
    labels_back, u_back, v_back = iuv.iuv_to_float(iuv.iuv_from_float(labels, u, v))
    fg = labels > 0
    np.testing.assert_array_equal(labels_back, labels)
    slack = 1e-6  # float32 casts and products
    for orig, back in ((u[fg], u_back[fg]), (v[fg].astype(np.float64), v_back[fg])):
        lost = orig - back.astype(np.float64)  # truncation only ever goes down
        assert np.all(lost >= -slack) and np.all(lost < 1 / 255 + slack)
    assert not u_back[~fg].any() and not v_back[~fg].any()


def test_write_iuv_is_what_cv2_imread_reads(tmp_path) -> None:
    rng = np.random.default_rng(0)
    iuv_hw3 = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    iuv_hw3[..., 0] = rng.integers(0, 25, (17, 23))
    path = tmp_path / "sub" / "a.iuv.png"
    iuv.write_iuv(path, iuv_hw3)
    np.testing.assert_array_equal(cv2.imread(str(path)), iuv_hw3)
    np.testing.assert_array_equal(iuv.read_iuv(path), iuv_hw3)
    np.testing.assert_array_equal(iuv.read_iuv(str(path)), iuv_hw3)
    assert [p.name for p in path.parent.iterdir()] == ["a.iuv.png"]  # no temp files left


def test_pil_sees_r_v_g_u_b_i() -> None:
    iuv_hw3 = _tiny_iuv()
    rgb = np.asarray(Image.open(io.BytesIO(iuv.encode_iuv_png(iuv_hw3))).convert("RGB"))
    np.testing.assert_array_equal(rgb[..., 0], iuv_hw3[..., 2])  # R = V
    np.testing.assert_array_equal(rgb[..., 1], iuv_hw3[..., 1])  # G = U
    np.testing.assert_array_equal(rgb[..., 2], iuv_hw3[..., 0])  # B = I
    assert rgb[0, 2].tolist() == [0, 255, 24]


def test_reads_files_written_by_other_tools(tmp_path) -> None:
    # DensePose's tools write with cv2.imwrite(I, U, V); a PIL writer must store RGB = (V, U, I).
    iuv_hw3 = _tiny_iuv()
    cv2.imwrite(str(tmp_path / "cv2.png"), iuv_hw3)
    Image.fromarray(iuv_hw3[..., ::-1].copy(), "RGB").save(tmp_path / "pil.png")
    for name in ("cv2.png", "pil.png"):
        np.testing.assert_array_equal(iuv.read_iuv(tmp_path / name), iuv_hw3)


def test_encoding_is_deterministic_and_read_from_bytes() -> None:
    iuv_hw3 = _tiny_iuv()
    data = iuv.encode_iuv_png(iuv_hw3)
    assert data == iuv.encode_iuv_png(iuv_hw3.copy())
    np.testing.assert_array_equal(iuv.read_iuv(data), iuv_hw3)
    np.testing.assert_array_equal(iuv.read_iuv(bytearray(data)), iuv_hw3)


def test_fsspec_urls_round_trip(tmp_path) -> None:
    iuv_hw3 = _tiny_iuv()
    iuv.write_iuv("memory://dpt-test-iuv/x/a.png", iuv_hw3)
    np.testing.assert_array_equal(iuv.read_iuv("memory://dpt-test-iuv/x/a.png"), iuv_hw3)
    url = (tmp_path / "b.png").as_uri()
    iuv.write_iuv(url, iuv_hw3)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "b.png")), iuv_hw3)


def _png(array: np.ndarray) -> bytes:
    return cv2.imencode(".png", array)[1].tobytes()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a not a png", "not a PNG"),
        (_png(np.zeros((4, 4, 3), np.uint8))[:-20], "corrupt or truncated"),
        (_png(np.zeros((4, 4), np.uint8)), "1 channel"),
        (_png(np.zeros((4, 4, 4), np.uint8)), "4 channel"),
        (_png(np.zeros((4, 4, 3), np.uint16)), "uint16"),
        (_png(np.full((4, 4, 3), 25, np.uint8)), "part id 25"),
    ],
)
def test_read_iuv_rejects_bad_files(tmp_path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message) as excinfo:
        iuv.read_iuv(path)
    assert "bad.png" in str(excinfo.value)
    with pytest.raises(ValueError, match=message):
        iuv.read_iuv(data)


def test_read_iuv_missing_file_names_it(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        iuv.read_iuv(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="src"):
        iuv.read_iuv(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 4), np.uint8), r"shape \(H, W, 3\)"),
        (np.zeros((4, 4, 4), np.uint8), r"shape \(H, W, 3\)"),
        (np.zeros((4, 4, 3), np.int32), "dtype uint8"),
        (np.full((4, 4, 3), 30, np.uint8), "part id 30"),
        ([[[0, 0, 0]]], "numpy array"),
    ],
)
def test_validate_iuv_errors(array, message: str) -> None:
    with pytest.raises(ValueError, match=message) as excinfo:
        iuv.validate_iuv(array, name="sample_iuv")
    assert "sample_iuv" in str(excinfo.value)
    with pytest.raises(ValueError, match=message):
        iuv.encode_iuv_png(array)


def test_iuv_from_float_errors() -> None:
    labels = np.ones((2, 2), np.int64)
    ok = np.full((2, 2), 0.5)
    with pytest.raises(ValueError, match="u_hw"):
        iuv.iuv_from_float(labels, np.full((2, 2), 1.5), ok)
    with pytest.raises(ValueError, match="v_hw"):
        iuv.iuv_from_float(labels, ok, np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="shapes differ"):
        iuv.iuv_from_float(labels, np.full((2, 3), 0.5), ok)
    with pytest.raises(ValueError, match="labels_hw: expected an integer"):
        iuv.iuv_from_float(labels.astype(float), ok, ok)
    with pytest.raises(ValueError, match=r"0\.\.24"):
        iuv.iuv_from_float(labels * 25, ok, ok)
