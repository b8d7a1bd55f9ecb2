"""Each layout read from a small tree built in its real format."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from data_builders import jpeg_bytes, make_studio, png_bytes, rgb_array, write_files

from dpt_core.data.layouts import Rejected, SourceSample, get_layout, make_key


def scan(layout: str, src: Path, **options: object) -> tuple[list[SourceSample], list[Rejected]]:
    found = list(get_layout(layout, **options).scan(str(src)))
    return [f for f in found if isinstance(f, SourceSample)], [
        f for f in found if isinstance(f, Rejected)
    ]


def test_make_key_rule():
    assert make_key(["alice", "img.001"]) == "alice__img_001"
    assert make_key(["a b", "é"]) == "a_b___"
    for bad in (["bad\x01name"], ["bad\udcffname"], ["__meta"], ["x" * 201]):
        with pytest.raises(ValueError):
            make_key(bad)


def test_image_folder_keys_persons_and_skips(photo_tree: Path):
    samples, rejected = scan("image-folder", photo_tree, person_from_folder=True)
    assert [s.key for s in samples] == [
        "alice__a1", "alice__a2", "alice__a3", "bob__b_2", "bob__b1", "bob__empty", "bob__notes",
        "carol__c1",
    ]  # fmt: skip
    assert {s.person_id for s in samples} == {"alice", "bob", "carol"}
    assert samples[0].size == (photo_tree / "alice/a1.png").stat().st_size
    assert rejected == []
    plain, _ = scan("image-folder", photo_tree)
    assert {s.person_id for s in plain} == {None}


def test_image_folder_rejects_unreadable_names(tmp_path: Path):
    src = write_files(tmp_path / "src", {"ok.png": png_bytes(rgb_array(8, 8))})
    fd = os.open(os.fsencode(src) + b"/bad\xff.png", os.O_CREAT | os.O_WRONLY)
    os.close(fd)
    samples, rejected = scan("image-folder", src)
    assert [s.key for s in samples] == ["ok"]
    assert [r.reason for r in rejected] == ["bad_name"] and "UTF-8" in rejected[0].detail


def test_deepfashion_inshop(tmp_path: Path):
    jpg = jpeg_bytes(rgb_array(16, 12))
    src = write_files(
        tmp_path / "inshop",
        {
            "img/WOMEN/Dresses/id_00000002/02_1_front.jpg": jpg,
            "img/WOMEN/Dresses/id_00000002/02_2_side.jpg": jpg,
            "img/MEN/Denim/id_00000080/01_4_full.jpg": jpg,
            "img/MEN/Denim/id_00000080/notes.jpg": jpg,
            "Eval/list_eval_partition.txt": (
                b"3\nimage_name item_id evaluation_status\n"
                b"img/WOMEN/Dresses/id_00000002/02_1_front.jpg id_00000002 train\n"
                b"img/WOMEN/Dresses/id_00000002/02_2_side.jpg  id_00000002 train\n"
                b"img/MEN/Denim/id_00000080/01_4_full.jpg      id_00000080 query\n"
            ),
        },
    )
    samples, rejected = scan("deepfashion-inshop", src)
    by_key = {s.key: s for s in samples}
    assert sorted(by_key) == [
        "MEN__Denim__id_00000080__01_4_full",
        "WOMEN__Dresses__id_00000002__02_1_front",
        "WOMEN__Dresses__id_00000002__02_2_side",
    ]
    full = by_key["MEN__Denim__id_00000080__01_4_full"]
    assert (full.person_id, full.view, full.split) == ("id_00000080", "full", "test")
    assert full.meta == {"gender": "MEN", "category": "Denim", "look": 1, "view_index": 4,
                         "eval_status": "query"}  # fmt: skip
    assert by_key["WOMEN__Dresses__id_00000002__02_2_side"].split == "train"
    assert [r.reason for r in rejected] == ["bad_name"] and "notes.jpg" in rejected[0].detail
    (src / "Eval/list_eval_partition.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"list_eval_partition\.txt"):
        scan("deepfashion-inshop", src)


def test_patn_pairs_layout(tmp_path: Path):
    name = "fashionWOMENBlouses_Shirtsid0000063504_1front.jpg"
    src = write_files(
        tmp_path / "fashion_data",
        {
            f"train/{name}": jpeg_bytes(rgb_array(16, 12)),
            "test/fashionMENTees_Tanksid0000017801_2side.jpg": jpeg_bytes(rgb_array(16, 12)),
            "test/odd name.jpg": jpeg_bytes(rgb_array(16, 12)),
            "fasion-resize-annotation-train.csv": (
                f"name:keypoints_y:keypoints_x\n{name}: [10, -1, 30]: [5, -1, 7]\n".encode()
            ),
        },
    )
    samples, rejected = scan("patn-pairs", src)
    assert rejected == []
    train = samples[0]
    assert (train.key, train.person_id, train.view, train.split) == (
        "fashionWOMENBlouses_Shirtsid0000063504_1front", "id_00000635", "front", "train",
    )  # fmt: skip
    assert train.meta == {"gender": "WOMEN", "category": "Blouses_Shirts", "look": 4,
                          "view_index": 1, "keypoints_y": [10, -1, 30],
                          "keypoints_x": [5, -1, 7]}  # fmt: skip
    assert [(s.key, s.person_id, s.split) for s in samples[1:]] == [
        ("fashionMENTees_Tanksid0000017801_2side", "id_00000178", "test"),
        ("odd_name", None, "test"),
    ]
    with pytest.raises(FileNotFoundError, match="train/ or test/"):
        scan("patn-pairs", tmp_path / "fashion_data" / "train")


def test_market1501(tmp_path: Path):
    jpg = jpeg_bytes(rgb_array(16, 8))
    src = write_files(
        tmp_path / "Market-1501",
        {
            "bounding_box_train/0002_c1s1_000451_03.jpg": jpg,
            "bounding_box_test/-1_c1s1_000401_03.jpg": jpg,
            "bounding_box_test/0000_c6s1_000151_01.jpg": jpg,
            "bounding_box_test/Thumbs.db": b"windows",
            "query/0002_c2s1_000301_01.jpg": jpg,
            "query/garbage.jpg": jpg,
        },
    )
    samples, rejected = scan("market1501", src)
    got = [(s.key, s.person_id, s.camera, s.split, s.flags, s.meta["subset"]) for s in samples]
    assert got == [
        ("bounding_box_train__0002_c1s1_000451_03", "0002", 1, "train", (), "train"),
        ("bounding_box_test__-1_c1s1_000401_03", "-1", 1, "test", ("junk",), "gallery"),
        ("bounding_box_test__0000_c6s1_000151_01", "0000", 6, "test", ("distractor",), "gallery"),
        ("query__0002_c2s1_000301_01", "0002", 2, "test", (), "query"),
    ]
    assert samples[0].meta == {"subset": "train", "sequence": 1, "frame": 451, "box": 3}
    assert [r.reason for r in rejected] == ["bad_name"] and "garbage.jpg" in rejected[0].source
    with pytest.raises(FileNotFoundError, match="bounding_box_train"):
        scan("market1501", tmp_path)


def test_studio_layout_carries_iuv_and_mask(tmp_path: Path):
    src = make_studio(tmp_path / "studio", identities=2, poses=1, views=2)
    samples, rejected = scan("studio", src)
    assert rejected == []
    first = samples[0]
    assert first.key == "id00000_p000_v00"
    assert first.extras == {"iuv.png": str(src / "iuv/id00000_p000_v00.png"),
                            "mask.png": str(src / "masks/id00000_p000_v00.png")}  # fmt: skip
    assert (first.person_id, first.view, first.split) == ("id00000", "0", "train")
    assert first.meta == {
        "identity": 0,
        "pose": "pose0",
        "pose_index": 0,
        "view": 0,
        "yaw_deg": 0.0,
    }
    sizes = [(src / d / "id00000_p000_v00.png").stat().st_size for d in ("images", "iuv", "masks")]
    assert first.size == sum(sizes)
    (src / "iuv/id00001_p000_v01.png").unlink()
    _, rejected = scan("studio", src)
    assert [(r.key, r.reason) for r in rejected] == [("id00001_p000_v01", "missing")]


def test_studio_manifest_errors_name_the_problem(tmp_path: Path):
    src = make_studio(tmp_path / "studio", identities=1, poses=1, views=1)
    table = pq.read_table(src / "manifest.parquet").drop_columns(["iuv"])
    pq.write_table(table, src / "manifest.parquet")
    with pytest.raises(ValueError, match=r"manifest.parquet: missing column\(s\) iuv"):
        scan("studio", src)
    with pytest.raises(FileNotFoundError, match=r"manifest\.parquet"):
        scan("studio", tmp_path)


def test_get_layout_errors():
    with pytest.raises(ValueError, match=r"unknown layout 'coco'.*image-folder"):
        get_layout("coco")
    with pytest.raises(ValueError, match="does not take options"):
        get_layout("market1501", person_from_folder=True)
