"""SRC as a sharded data set (studio people, ids like id00003) with a pose bank from another
root: made-up Market names, identity split kept, the bank's IUV shards copied once."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import cv2
import pyarrow.parquet as pq
import pytest

from dpt_core import storage
from dpt_core.data.stage import ShardConfig, shard_dataset
from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.stage import extract_dataset
from dpt_core.reid import AugmentConfig, augment_reid
from dpt_core.reid.bank import ingest_pose_bank

MARKET_RE = re.compile(r"^(\d{4})_c([1-6])s(\d)_(\d{6})_(\d{2})\.jpg$")


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def sharded(reid_inputs, tmp_path_factory) -> dict:
    """People (4 identities x 2 poses x 3 views, 64 px; id00003 is the test split) sharded in
    ``root``; the fixture's studio bank sharded in another root; one augmentation, K = 2."""
    from dpt_core.studio import generate_dataset

    base = tmp_path_factory.mktemp("reid-sharded")
    root, bank_root = str(base / "root"), str(base / "bank_root")
    generate_dataset(str(base / "people"), identities=4, poses=2, views=3, size=64, seed=3)
    shard_dataset("studio", str(base / "people"), root, "people", ShardConfig(max_count=10))
    extract_dataset(root, "people", ExtractOptions(source="studio"))
    shard_dataset("studio", reid_inputs.bank, bank_root, "poses", ShardConfig(max_count=4))
    extract_dataset(bank_root, "poses", ExtractOptions(source="studio"))
    bank = storage.join(bank_root, "densepose", "poses", "studio")
    config = AugmentConfig(storage.join(root, "datasets", "people"), str(base / "dst"), bank,
                           reid_inputs.checkpoint, per_identity=2, iuv_source="studio")  # fmt: skip
    summary = augment_reid(config)
    return {"root": root, "bank": bank, "dst": base / "dst", "summary": summary, "base": base}


def test_made_up_names_follow_the_identity_split(sharded):
    dst = sharded["dst"]
    train, query = _names(dst / "bounding_box_train"), _names(dst / "query")
    gallery = _names(dst / "bounding_box_test")
    assert all(MARKET_RE.match(n) for n in train + query + gallery)
    originals = [n for n in train if MARKET_RE.match(n).group(3) == "1"]
    assert Counter(n[:4] for n in originals) == {"0001": 6, "0002": 6, "0003": 6}
    assert {n[:4] for n in query + gallery} == {"0004"} and (len(query), len(gallery)) == (1, 5)
    frames = sorted(int(MARKET_RE.match(n).group(4)) for n in originals if n.startswith("0002"))
    assert frames == list(range(6))
    image = cv2.imread(str(dst / "query" / query[0]))
    assert image.shape == (64, 64, 3)  # a PNG in the shard, re-encoded as JPEG


def test_generated_images_keep_person_and_source_camera(sharded):
    rows = pq.read_table(sharded["dst"] / "augment_manifest.parquet").to_pylist()
    assert Counter(r["person"] for r in rows) == {"0001": 2, "0002": 2, "0003": 2}
    assert {(r["person"], r["person_id"]) for r in rows} == {
        ("0001", "id00000"), ("0002", "id00001"), ("0003", "id00002")}  # fmt: skip
    for row in rows:
        source = MARKET_RE.match(row["source_name"].split("/")[1]).groups()
        assert MARKET_RE.match(row["name"]).groups()[:3] == (*source[:2], "9")
    assert sharded["summary"].generated == 6 and sharded["summary"].shards == 1


def test_the_bank_is_copied_once_into_the_work_root(sharded):
    copy = Path(sharded["root"]) / "densepose" / "posebank-poses" / "studio"
    origin = Path(sharded["bank"])
    tars = sorted(p.name for p in origin.glob("*.tar"))
    assert tars == ["poses-00000.tar", "poses-00001.tar"]
    for name in tars:
        assert (copy / name).read_bytes() == (origin / name).read_bytes()
    mtimes = {p: p.stat().st_mtime_ns for p in copy.iterdir()}
    ingest_pose_bank(sharded["bank"], sharded["root"])
    assert {p: p.stat().st_mtime_ns for p in copy.iterdir()} == mtimes


def test_a_sharded_source_renders_in_its_own_root_only(sharded, reid_inputs):
    src, base = storage.join(sharded["root"], "datasets", "people"), sharded["base"]
    config = AugmentConfig(src, str(base / "dst2"), sharded["bank"], reid_inputs.checkpoint,
                           iuv_source="studio", work=str(base / "elsewhere"))  # fmt: skip
    with pytest.raises(ValueError, match="work: a sharded SRC is rendered in its own root"):
        augment_reid(config)


def test_a_bank_url_of_neither_kind_is_refused(sharded, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"pose_bank: .* is neither an IUV shard folder"):
        ingest_pose_bank(str(tmp_path), sharded["root"])


def test_the_source_as_its_own_bank_lends_only_training_poses(sharded, reid_inputs):
    src = storage.join(sharded["root"], "datasets", "people")
    own_bank = storage.join(sharded["root"], "densepose", "people", "studio")
    dst = sharded["base"] / "dst-own"
    config = AugmentConfig(src, str(dst), own_bank, reid_inputs.checkpoint, per_identity=4,
                           iuv_source="studio", name="own")  # fmt: skip
    summary = augment_reid(config)
    rows = pq.read_table(dst / "augment_manifest.parquet").to_pylist()
    assert summary.generated == len(rows) == 12
    assert {r["target_key"][:7] for r in rows} <= {"id00000", "id00001", "id00002"}
    assert not (Path(sharded["root"]) / "densepose" / "posebank-people").exists()
