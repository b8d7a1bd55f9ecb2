"""Bad-input suite, later stages: wrong IUV files through extract (studio and precomputed
sources) and precompute-textures. Each hypothesis example is one shard; the stage must
finish it, store every good sample and log every bad one with its reason."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability_images import encode, pixels
from reliability_iuv import IMAGE_HW, IuvCase, iuv_cases
from reliability_oracle import Expect, account, batch, logged_by
from test_reliability_images import FAST, FULL, SETTINGS

from dpt_core import storage
from dpt_core.data import shards
from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.stage import extract_shard, output_shard_url

EXAMPLES = [FAST, pytest.param(FULL, marks=pytest.mark.slow)]
NAME = "fuzz"
_cases = st.lists(iuv_cases(), min_size=1, max_size=10)


def _image(i: int) -> bytes:
    return encode(pixels(*IMAGE_HW, seed=i), "PNG")


def _dataset_shard(root: str, samples: list[dict]) -> None:
    url = storage.join(root, "datasets", NAME, "shards", f"{NAME}-00000.tar")
    shards.write_shard(url, samples)


def _expected(cases: list[IuvCase]) -> dict[str, Expect]:
    return {f"s{i:03d}": Expect(c.expect, c.reasons, f"iuv_{c.kind}") for i, c in enumerate(cases)}


def _stored_keys(manifest_url: str, column: str = "image_key") -> dict[str, bool]:
    if not storage.exists(manifest_url):
        return {}
    return dict.fromkeys(shards.read_manifest(manifest_url).column(column).to_pylist(), True)


def _check(stage: str, root: str, cases: list[IuvCase], out_url: str) -> None:
    stored = _stored_keys(shards.shard_manifest_url(out_url))
    problems = account(stage, _expected(cases), stored, logged_by(root, stage, NAME, "key"))
    assert not problems, "\n".join(problems)


def run_extract_studio(tmp_path: Path, cases: list[IuvCase]) -> None:
    root = tempfile.mkdtemp(dir=tmp_path)
    samples = []
    for i, case in enumerate(cases):
        sample = {"__key__": f"s{i:03d}", "png": _image(i)}
        if case.data is not None:
            sample["iuv.png"] = case.data
        samples.append(sample)
    _dataset_shard(root, samples)
    with batch("extract"):
        extract_shard(root, NAME, 0, ExtractOptions(source="studio"))
    _check("extract", root, cases, output_shard_url(root, NAME, "studio", 0))


def run_extract_precomputed(tmp_path: Path, cases: list[IuvCase], detectron1: list[bool]) -> None:
    root = tempfile.mkdtemp(dir=tmp_path)
    folder = Path(root) / "precomputed"
    folder.mkdir()
    for i, (case, old_style) in enumerate(zip(cases, detectron1, strict=False)):
        if case.data is not None:
            (folder / f"s{i:03d}{'_IUV.png' if old_style else '.iuv.png'}").write_bytes(case.data)
    _dataset_shard(root, [{"__key__": f"s{i:03d}", "png": _image(i)} for i in range(len(cases))])
    options = ExtractOptions(source="precomputed", precomputed_url=str(folder))
    with batch("extract"):
        extract_shard(root, NAME, 0, options)
    _check("extract", root, cases, output_shard_url(root, NAME, "precomputed", 0))


@pytest.mark.parametrize("examples", EXAMPLES, ids=["fast", "full"])
def test_extract_studio_iuv_members(tmp_path: Path, examples: int) -> None:
    @settings(max_examples=examples, **SETTINGS)
    @given(_cases)
    def check(cases):
        run_extract_studio(tmp_path, cases)

    check()


@pytest.mark.parametrize("examples", EXAMPLES, ids=["fast", "full"])
def test_extract_precomputed_iuv_files(tmp_path: Path, examples: int) -> None:
    @settings(max_examples=examples, **SETTINGS)
    @given(_cases, st.lists(st.booleans(), min_size=10, max_size=10))
    def check(cases, detectron1):
        run_extract_precomputed(tmp_path, cases, detectron1)

    check()


def run_textures(tmp_path: Path, cases: list[IuvCase], bad_images: list[bool]) -> None:
    from dpt_core.textures import precompute_textures_shard

    root = tempfile.mkdtemp(dir=tmp_path)
    images, iuvs, rows = [], [], []
    expected = _expected(cases)
    for i, (case, bad_image) in enumerate(zip(cases, bad_images, strict=False)):
        key = f"s{i:03d}"
        images.append({"__key__": key, "png": b"\x89PNG broken" if bad_image else _image(i)})
        if case.data is not None:
            iuvs.append({"__key__": key, "iuv.png": case.data})
            rows.append({"key": key, "image_key": key})
        if bad_image and case.data is not None:
            expected[key] = Expect("bad", frozenset({"bad image"}), "textures_bad_image")
    _dataset_shard(root, images)
    iuv_url = storage.join(root, "densepose", NAME, "fuzzsrc", f"{NAME}-00000.tar")
    shards.write_shard(iuv_url, iuvs)
    import pyarrow as pa

    schema = pa.schema([("key", pa.string()), ("image_key", pa.string())])
    shards.write_manifest(shards.shard_manifest_url(iuv_url), rows, schema)
    with batch("textures"):
        summary = precompute_textures_shard(root, NAME, 0, n=8, source="fuzzsrc")
    stored = _stored_keys(shards.shard_manifest_url(summary["shard"]), "key")
    problems = account("textures", expected, stored, logged_by(root, "textures", NAME, "key"))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("examples", EXAMPLES, ids=["fast", "full"])
def test_textures_from_bad_iuv_shards(tmp_path: Path, examples: int) -> None:
    @settings(max_examples=examples, **SETTINGS)
    @given(_cases, st.lists(st.sampled_from([False] * 5 + [True]), min_size=10, max_size=10))
    def check(cases, bad_images):
        run_textures(tmp_path, cases, bad_images)

    check()
