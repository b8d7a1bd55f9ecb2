"""Bad-input suite, layouts: Market-1501 names, DeepFashion partition files, PATN CSVs,
empty data sets. Every batch completes; every input is stored or logged with its reason."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from reliability_oracle import GOOD, Expect, account, batch, logged_by, stored_sources
from reliability_texts import (
    STATUSES,
    annotation_ok,
    bad_annotation_lines,
    junk_lines,
    market_name_ok,
    market_stems,
)
from test_reliability_images import FAST, FULL, SETTINGS

from dpt_core import storage
from dpt_core.data.layouts import make_key
from dpt_core.data.layouts.deepfashion import PARTITION_FILE
from dpt_core.data.manifest import read_dataset_manifest
from dpt_core.data.stage import ShardConfig, shard_dataset

EXAMPLES = [FAST, pytest.param(FULL, marks=pytest.mark.slow)]
MARKET_FOLDERS = ("bounding_box_train", "bounding_box_test", "query")


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 16), (200, 40, 90)).save(out, "PNG")
    return out.getvalue()


PNG = _png()


def _workdir(tmp_path: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=tmp_path))


def _shard(layout: str, src: Path, root: str) -> None:
    with batch("shard"):
        shard_dataset(layout, str(src), root, "fuzz", ShardConfig(max_count=8, max_bytes=10**9))


def _market_expectations(src: Path, files: list[tuple[str, str, str, bool]]) -> dict:
    expected, first = {}, set()
    for folder, stem, ext, nested in sorted(
        files, key=lambda f: (f[0], "sub/" * f[3] + f[1], f[2])
    ):
        rel = f"{folder}/sub/{stem}.{ext}" if nested else f"{folder}/{stem}.{ext}"
        url = storage.join(str(src), *rel.split("/"))
        ok = market_name_ok(stem) and not nested
        if ok and (folder, stem) in first:
            expected[url] = Expect("bad", frozenset({"duplicate_key"}), "market_duplicate")
        elif ok:
            first.add((folder, stem))
            expected[url] = Expect(GOOD, kind="market_name")
        else:
            expected[url] = Expect("bad", frozenset({"bad_name"}), "market_bad_name")
    return expected


_nested = st.sampled_from([False] * 9 + [True])
_market_files = st.lists(
    st.tuples(st.sampled_from(MARKET_FOLDERS), market_stems(),
              st.sampled_from(["jpg", "JPG", "png", "jpeg"]), _nested),
    min_size=1, max_size=16, unique_by=lambda f: f,
)  # fmt: skip


@pytest.mark.parametrize("examples", EXAMPLES, ids=["fast", "full"])
def test_market1501_names(tmp_path: Path, examples: int) -> None:
    @settings(max_examples=examples, **SETTINGS)
    @given(_market_files)
    def check(files):
        work = _workdir(tmp_path)
        src, root = work / "Market-1501", str(work / "root")
        for folder, stem, ext, nested in files:
            path = src / folder / ("sub" if nested else "") / f"{stem}.{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(PNG)
        expected = _market_expectations(src, files)
        _shard("market1501", src, root)
        stored = stored_sources(root, "fuzz")
        problems = account("shard", expected, stored, logged_by(root, "shard", "fuzz", "source"))
        assert not problems, "\n".join(problems)
        if stored:
            table = read_dataset_manifest(root, "fuzz", ["source", "person_id", "camera"])
            for url, person, camera in zip(*table.to_pydict().values(), strict=True):
                stem = url.rsplit("/", 1)[1].rsplit(".", 1)[0]
                assert (person, camera) == (stem.split("_")[0], int(stem.split("_")[1][1]))

    check()


_DF_IMAGES = [
    "img/WOMEN/Dresses/id_00000002/02_1_front.jpg",
    "img/WOMEN/Dresses/id_00000002/02_2_side.jpg",
    "img/MEN/Denim/id_00000080/01_4_full.jpg",
    "img/MEN/Denim/id_00000080/notes.jpg",
    "img/MEN/Tees/id_00000081/01_7_additional.jpg",
]


@st.composite
def partition_files(draw) -> tuple[bytes, dict[str, str], list[int]]:
    """(file bytes, {image: status} of its good rows, line numbers of its junk lines)."""
    lines, statuses, junk = (
        [draw(st.sampled_from(["5", "x", ""])), "image_name item_id status"],
        {},
        [],
    )
    for name in draw(st.lists(st.sampled_from(_DF_IMAGES), max_size=6)):
        if draw(st.booleans()):
            junk.append(len(lines) + 1)
            lines.append(draw(junk_lines(3, STATUSES)))
        if draw(st.integers(0, 4)) == 0:
            lines.append("")
        statuses[name] = draw(st.sampled_from(STATUSES))
        lines.append(f"{name}  {name.split('/')[3]}\t{statuses[name]}")
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    bom = "\ufeff" if draw(st.booleans()) else ""
    return (bom + eol.join(lines) + eol).encode(), statuses, junk


@pytest.mark.parametrize("examples", EXAMPLES, ids=["fast", "full"])
def test_deepfashion_partition_files(tmp_path: Path, examples: int) -> None:
    @settings(max_examples=examples, **SETTINGS)
    @given(partition_files(), st.booleans())
    def check(partition, in_eval):
        data, statuses, junk = partition
        work = _workdir(tmp_path)
        src, root = work / "inshop", str(work / "root")
        for rel in _DF_IMAGES:
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes(PNG)
        part = src / "Eval" / PARTITION_FILE if in_eval else src / PARTITION_FILE
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(data)
        part_url = storage.join(str(src), *part.relative_to(src).parts)
        expected = {
            storage.join(str(src), *rel.split("/")): Expect(GOOD, kind="deepfashion_image")
            for rel in _DF_IMAGES if not rel.endswith("notes.jpg")
        }  # fmt: skip
        expected[storage.join(str(src), *_DF_IMAGES[3].split("/"))] = Expect(
            "bad", frozenset({"bad_name"}), "deepfashion_bad_name"
        )
        expected |= {
            f"{part_url}:{n}": Expect("bad", frozenset({"bad_partition_line"}), "partition_line")
            for n in junk
        }
        _shard("deepfashion-inshop", src, root)
        stored = stored_sources(root, "fuzz")
        problems = account("shard", expected, stored, logged_by(root, "shard", "fuzz", "source"))
        assert not problems, "\n".join(problems)
        table = read_dataset_manifest(root, "fuzz", ["source", "split"])
        want = {"train": "train", "query": "test", "gallery": "test"}
        for url, split in zip(*table.to_pydict().values(), strict=True):
            rel = url[len(str(src)) + 1 :]
            assert split == (want[statuses[rel]] if rel in statuses else None), rel

    check()


@st.composite
def annotation_files(draw) -> tuple[bytes, dict[str, list], list[int]]:
    names = ["fashionWOMENDressesid0000000202_1front.jpg", "odd name.jpg", "x.jpg"]
    lines, good, junk = ["name:keypoints_y:keypoints_x"], {}, []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            name = draw(st.sampled_from(names))
            ys = draw(st.lists(st.integers(-1, 255), min_size=18, max_size=18))
            lines.append(f"{name}: {json.dumps(ys)}: {json.dumps(ys[::-1])}")
            good[name] = ys
        else:
            junk.append(len(lines) + 1)
            lines.append(draw(bad_annotation_lines()))
    assert all(annotation_ok(lines[n - 1]) is False for n in junk)
    return ("\n".join(lines) + "\n").encode(), good, junk


@pytest.mark.parametrize("examples", EXAMPLES, ids=["fast", "full"])
def test_patn_annotation_files(tmp_path: Path, examples: int) -> None:
    @settings(max_examples=examples, **SETTINGS)
    @given(annotation_files())
    def check(annotations):
        data, good, junk = annotations
        work = _workdir(tmp_path)
        src, root = work / "fashion", str(work / "root")
        for name in ("fashionWOMENDressesid0000000202_1front.jpg", "odd name.jpg", "x.jpg"):
            (src / "train").mkdir(parents=True, exist_ok=True)
            (src / "train" / name).write_bytes(PNG)
        (src / "fasion-resize-annotation-train.csv").write_bytes(data)
        csv_url = storage.join(str(src), "fasion-resize-annotation-train.csv")
        expected = {storage.join(str(src), "train", n): Expect(GOOD, kind="patn_image")
                    for n in ("fashionWOMENDressesid0000000202_1front.jpg", "odd name.jpg",
                              "x.jpg")}  # fmt: skip
        expected |= {
            f"{csv_url}:{n}": Expect("bad", frozenset({"bad_annotation_line"}), "annotation_line")
            for n in junk
        }
        _shard("patn-pairs", src, root)
        stored = stored_sources(root, "fuzz")
        problems = account("shard", expected, stored, logged_by(root, "shard", "fuzz", "source"))
        assert not problems, "\n".join(problems)
        table = read_dataset_manifest(root, "fuzz", ["source", "meta"])
        for url, meta in zip(*table.to_pydict().values(), strict=True):
            name = url.rsplit("/", 1)[1]
            assert json.loads(meta).get("keypoints_y") == good.get(name), name

    check()


@pytest.mark.parametrize("layout", ["image-folder", "market1501", "patn-pairs", "studio"])
def test_empty_data_sets_give_a_clear_answer(tmp_path: Path, layout: str) -> None:
    """An empty source folder: an empty data set or one clear FileNotFoundError, no crash."""
    src = tmp_path / "src"
    src.mkdir()
    try:
        with batch("shard", clear=(FileNotFoundError,)):
            summary = shard_dataset(layout, str(src), str(tmp_path / "root"), "empty")
    except FileNotFoundError as exc:
        assert str(src) in str(exc) or "manifest.parquet" in str(exc)
        return
    assert (summary.shards, summary.written, summary.rejected) == (0, 0, 0)


def test_make_key_oracle_agrees_on_market_stems() -> None:
    """The oracle's stems are safe keys as they are (no collision by character folding)."""
    for stem in ("0001_c1s1_000151_01", "-1_c6s6_999999_99"):
        assert market_name_ok(stem) and make_key(["query", stem]) == f"query__{stem}"
