"""The re-id value benchmark's pieces: the studio Market-1501 tree, rank-1 / mAP on a hand-made
distance matrix, and the check that no test person is ever a generation source."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dpt_core.iuv import read_iuv
from dpt_core.reid.crop import crop_box, crop_resize
from dpt_core.reid.evaluation import rank_metrics
from dpt_core.reid.stage import MANIFEST_NAME, MANIFEST_SCHEMA
from dpt_core.reid.studio_market import (
    StudioMarketSpec,
    build_studio_market,
    check_generation_sources,
    check_split,
    detector_box,
    split_persons,
)
from dpt_core.studio import make_identity, make_scene, render_scenes

MARKET_RE = re.compile(r"^(\d{4})_c(\d)s(\d)_(\d{6})_(\d{2})\.jpg$")
SPEC = StudioMarketSpec(train_identities=2, test_identities=2, poses=2, views=3, seed=5, frame=64)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("studio_market")
    build_studio_market(SPEC, str(base / "market"), str(base / "iuvs"))
    return base


def _names(folder: Path) -> list[tuple[str, ...]]:
    return [MARKET_RE.match(p.name).groups() for p in sorted(folder.glob("*.jpg"))]


def test_train_and_test_persons_are_disjoint_and_counted(tree):
    market = tree / "market"
    train = {n[0] for n in _names(market / "bounding_box_train")}
    test = {n[0] for f in ("query", "bounding_box_test") for n in _names(market / f)}
    assert train == {"0001", "0002"} and test == {"0003", "0004"}
    counts = [len(_names(market / f)) for f in ("bounding_box_train", "query", "bounding_box_test")]
    assert counts == [2 * 2 * 3, 2 * 3, 2 * 1 * 3]
    assert split_persons(SPEC) == (train, test)


def test_every_query_has_a_match_from_another_camera(tree):
    gallery = _names(tree / "market/bounding_box_test")
    for pid, cam, *_ in _names(tree / "market/query"):
        assert any(g[0] == pid and g[1] != cam for g in gallery)


def test_name_fields_are_the_rendered_identity_pose_and_camera(tree):
    """Re-render the scene a name points to (person - 1, frame // 100, camera - 1) and crop it:
    it must be the stored IUV, and the JPEG must be 128 × 64."""
    for path in sorted((tree / "market/bounding_box_train").glob("*.jpg"))[::5]:
        pid, cam, seq, frame, box = MARKET_RE.match(path.name).groups()
        assert (seq, box, int(frame) % 100) == ("1", "01", int(cam) - 1)
        identity, pose, view = int(pid) - 1, int(frame) // 100, int(cam) - 1
        scene = make_scene(make_identity(identity, SPEC.seed), pose, view, SPEC.views, "random")
        batch = render_scenes([scene], SPEC.frame)
        rng = np.random.default_rng([SPEC.seed, 18, identity, pose, view])
        body = detector_box(batch.mask[0, 0].numpy(), rng, SPEC.jitter)
        crop = crop_box(body, SPEC.size, SPEC.margin, SPEC.frame)
        expected = crop_resize(batch.iuv[0].permute(1, 2, 0).numpy(), crop, SPEC.size, True)
        stored = read_iuv(str(tree / "iuvs" / f"{path.stem}.iuv.png"))
        assert np.array_equal(stored, expected), path.name
        assert cv2.imread(str(path)).shape == (128, 64, 3)
    assert not list((tree / "iuvs").glob("0003_*")), "test persons get no IUV"


def test_spec_refuses_more_cameras_than_market_has():
    with pytest.raises(ValueError, match="views"):
        StudioMarketSpec(views=7)


def test_rank1_and_map_on_a_hand_made_distance_matrix():
    """Gallery: g0 (1, c1), g1 (1, c2), g2 (2, c2), g3 (1, c3), g4 (2, c1).
    q0 (1, c1): ranked g0 junk, g2 no, g4 no, g1 yes, g3 yes -> first hit 3, AP (1/3 + 2/4) / 2.
    q1 (2, c1): ranked g4 junk, g2 yes, ...                  -> first hit 1, AP 1.
    q2 (3, c2): no true match                                 -> not counted.
    q3 (2, c2): ranked g2 junk, g1, g0, g3 no, g4 yes         -> first hit 4, AP 1/4.
    rank-1 = 1/3, rank-3 = 2/3, rank-4 = 1; mAP = (5/12 + 1 + 1/4) / 3 = 5/9."""
    distmat = np.array([[0.1, 0.5, 0.2, 0.9, 0.3],
                        [0.4, 0.6, 0.05, 0.7, 0.01],
                        [0.1, 0.2, 0.3, 0.4, 0.5],
                        [0.3, 0.2, 0.1, 0.4, 0.5]])  # fmt: skip
    metrics = rank_metrics(distmat, [1, 2, 3, 2], [1, 1, 2, 1, 2], [1, 1, 2, 2], [1, 2, 2, 3, 1])
    assert metrics.queries == 3
    assert metrics.rank1 == pytest.approx(1 / 3)
    assert metrics.cmc[:5] == pytest.approx([1 / 3, 1 / 3, 2 / 3, 1, 1])
    assert metrics.mean_ap == pytest.approx(5 / 9)


def test_rank_metrics_refuse_when_no_query_has_a_match():
    with pytest.raises(ValueError, match="no query"):
        rank_metrics(np.zeros((1, 2)), [1], [1, 2], [1], [1, 1])


def test_rank_metrics_agree_with_torchreid_when_installed():
    metrics = pytest.importorskip("torchreid.reid.metrics")
    rng = np.random.default_rng(0)
    distmat = rng.random((30, 60))
    q_pids, g_pids = rng.integers(0, 6, 30), rng.integers(0, 6, 60)
    q_cams, g_cams = rng.integers(0, 3, 30), rng.integers(0, 3, 60)
    cmc, mean_ap = metrics.evaluate_rank(distmat, q_pids, g_pids, q_cams, g_cams, 20,
                                         use_cython=False)  # fmt: skip
    ours = rank_metrics(distmat, q_pids, g_pids, q_cams, g_cams, 20)
    assert ours.cmc == pytest.approx(cmc) and ours.mean_ap == pytest.approx(mean_ap)


def _augmented(tree: Path, dst: Path, source_names: list[str], persons: list[str]) -> Path:
    shutil.copytree(tree / "market", dst)
    rows = [{"name": f"{p}_c1s9_{j:06d}_01.jpg", "person": p, "source_name": s}
            for j, (s, p) in enumerate(zip(source_names, persons, strict=True))]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA), dst / MANIFEST_NAME)
    return dst


def test_generation_source_check_passes_training_sources(tree, tmp_path):
    sources = ["bounding_box_train/0001_c1s1_000000_01.jpg",
               "bounding_box_train/0002_c2s1_000101_01.jpg"]  # fmt: skip
    dst = _augmented(tree, tmp_path / "dst", sources, ["0001", "0002"])
    assert check_generation_sources(str(dst)) == 2


@pytest.mark.parametrize(
    ("source", "person"),
    [("query/0003_c1s1_000000_01.jpg", "0003"),  # a query image as the source
     ("bounding_box_train/0001_c1s1_000000_01.jpg", "0004"),  # labelled as a test person
     ("bounding_box_test/0004_c2s1_000101_01.jpg", "0001")],  # a gallery image, relabelled
)  # fmt: skip
def test_generation_source_check_fires_on_a_test_person(tree, tmp_path, source, person):
    dst = _augmented(tree, tmp_path / "dst", [source], [person])
    with pytest.raises(ValueError, match="never be a source"):
        check_generation_sources(str(dst))


def test_split_check_fires_on_a_shared_person():
    check_split({"0001", "0002"}, {"0003"})
    with pytest.raises(ValueError, match="0002"):
        check_split({"0001", "0002"}, {"0002", "0003"})
    with pytest.raises(ValueError, match="non-empty"):
        check_split({"0001"}, set())
