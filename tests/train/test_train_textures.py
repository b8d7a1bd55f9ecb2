"""The precompute-textures stage: texture shards equal to the atlas scatter, resumable, failures."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from dpt_core import atlas, storage
from dpt_core.data.shards import iter_shard, read_manifest, write_manifest, write_shard
from dpt_core.densepose.extractors import decode_image_rgb
from dpt_core.iuv import decode_iuv_png, encode_iuv_png
from dpt_core.studio.stage import png_bytes
from dpt_core.textures import (
    PART_COLUMNS,
    decode_texture,
    encode_texture,
    part_visibility,
    precompute_textures,
    precompute_textures_shard,
    texture_shard_url,
)


def test_part_visibility_by_hand() -> None:
    n = 2
    vis = np.zeros(atlas.atlas_shape(n), bool)
    vis[0:2, 0:2] = True  # part 1: tile row 0, col 0 -> all 4 texels
    vis[2, 0] = True  # part 2: tile row 1, col 0 -> 1 of 4
    vis[0, 2] = True  # part 7: tile row 0, col 1 -> 1 of 4
    fractions = part_visibility(vis)
    expected = np.zeros(24, np.float32)
    expected[[0, 1, 6]] = [1.0, 0.25, 0.25]
    np.testing.assert_array_equal(fractions, expected)


def test_texture_png_round_trip() -> None:
    rng = np.random.default_rng(0)
    atlas_rgb = rng.integers(0, 256, (*atlas.atlas_shape(4), 3), dtype=np.uint8)
    vis = rng.random(atlas.atlas_shape(4)) > 0.5
    tex_png, vis_png = encode_texture(atlas_rgb, vis)
    assert tex_png.startswith(b"\x89PNG") and vis_png.startswith(b"\x89PNG")
    back_rgb, back_vis = decode_texture(tex_png, vis_png)
    np.testing.assert_array_equal(back_rgb, atlas_rgb)
    np.testing.assert_array_equal(back_vis, vis)


def _members(shard_url: str) -> dict[str, dict]:
    return {s["__key__"]: s for s in iter_shard(shard_url)}


def test_textures_equal_the_scatter_of_image_through_iuv(studio_root: str) -> None:
    url = texture_shard_url(studio_root, "studio", 0)
    images = _members(f"{studio_root}/datasets/studio/shards/studio-00000.tar")
    iuvs = _members(f"{studio_root}/densepose/studio/studio/studio-00000.tar")
    textures = _members(url)
    assert sorted(textures) == sorted(images) and len(textures) == 4
    manifest = {r["key"]: r for r in read_manifest(url[:-4] + ".parquet").to_pylist()}
    for key, sample in textures.items():
        image = decode_image_rgb(images[key]["png"])
        expected_rgb, expected_vis = atlas.scatter(image, decode_iuv_png(iuvs[key]["iuv.png"]), 16)
        got_rgb, got_vis = decode_texture(sample["tex.png"], sample["vis.png"])
        np.testing.assert_array_equal(got_rgb, expected_rgb)
        np.testing.assert_array_equal(got_vis, expected_vis)
        row = manifest[key]
        assert row["n"] == 16 and row["visible"] == pytest.approx(expected_vis.mean())
        parts = [row[c] for c in PART_COLUMNS]
        np.testing.assert_allclose(parts, part_visibility(expected_vis), rtol=1e-6)
        assert 0 < row["visible"] < 1


def test_textures_resume_and_redo_on_new_n(studio_root: str, tmp_path: Path) -> None:
    again = precompute_textures(studio_root, "studio", n=16)
    assert all(s["skipped"] for s in again) and len(again) == 5
    root = str(tmp_path)
    for folder in ("datasets", "densepose"):
        fs, _ = storage.url_to_fs(studio_root)
        fs.copy(f"{studio_root}/{folder}", f"{root}/{folder}", recursive=True)
    first = precompute_textures_shard(root, "studio", 1, n=8)
    assert not first["skipped"] and first["n"] == 8
    assert precompute_textures_shard(root, "studio", 1, n=8)["skipped"]
    redo = precompute_textures_shard(root, "studio", 1, n=4)
    assert not redo["skipped"]
    sample = next(iter(_members(redo["shard"]).values()))
    rgb, _ = decode_texture(sample["tex.png"], sample["vis.png"])
    assert rgb.shape[:2] == atlas.atlas_shape(4)


def _bad_root(root: Path) -> str:
    """A dataset with four samples: good, no IUV, IUV of another size, empty IUV."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    good = np.zeros((8, 8, 3), np.uint8)
    good[2:6, 2:6] = (2, 100, 200)
    keys = ["a_good", "b_noiuv", "c_size", "d_empty"]
    write_shard(
        str(root / "datasets/bad/shards/bad-00000.tar"),
        [{"__key__": k, "png": png_bytes(image)} for k in keys],
    )
    iuvs = {
        "a_good": good,
        "c_size": np.zeros((4, 8, 3), np.uint8) + good[:4],
        "d_empty": np.zeros((8, 8, 3), np.uint8),
    }
    iuv_url = str(root / "densepose/bad/studio/bad-00000.tar")
    write_shard(iuv_url, [{"__key__": k, "iuv.png": encode_iuv_png(v)} for k, v in iuvs.items()])
    write_manifest(iuv_url[:-4] + ".parquet", [{"key": k, "image_key": k} for k in iuvs])
    return str(root)


def test_bad_samples_become_failures(tmp_path: Path) -> None:
    root = _bad_root(tmp_path)
    summary = precompute_textures_shard(root, "bad", 0, n=4)
    assert summary["count"] == 1 and summary["failures"] == 3
    assert list(_members(summary["shard"])) == ["a_good"]
    reasons = {f.key: f.reason for f in storage.read_failures(root, "textures", "bad")}
    assert reasons == {"b_noiuv": "missing iuv", "c_size": "size mismatch", "d_empty": "empty iuv"}
    with tarfile.open(fileobj=io.BytesIO(storage.read_bytes(summary["shard"]))) as tar:
        assert tar.getnames() == ["a_good.tex.png", "a_good.vis.png"]


def test_missing_input_shard_is_named(studio_root: str) -> None:
    with pytest.raises(FileNotFoundError, match=r"studio-00099\.tar"):
        precompute_textures_shard(studio_root, "studio", 99, n=16)
    with pytest.raises(FileNotFoundError, match="densepose/studio/nope"):
        precompute_textures_shard(studio_root, "studio", 0, n=16, source="nope")
    with pytest.raises(ValueError, match="n"):
        precompute_textures_shard(studio_root, "studio", 0, n=0)


def test_a_corrupt_shard_does_not_stop_the_others(studio_root: str, tmp_path: Path) -> None:
    root = str(tmp_path)
    fs, _ = storage.url_to_fs(studio_root)
    for folder in ("datasets", "densepose"):
        fs.copy(f"{studio_root}/{folder}", f"{root}/{folder}", recursive=True)
    (tmp_path / "datasets/studio/shards/studio-00001.tar").write_bytes(b"not a tar")
    with pytest.raises(RuntimeError, match=r"1 shard\(s\) failed.*studio-00001\.tar"):
        precompute_textures(root, "studio", n=16)
    done = sorted(p.name for p in (tmp_path / "textures/studio").glob("studio-*.tar"))
    assert done == ["studio-00000.tar", "studio-00002.tar", "studio-00003.tar", "studio-00004.tar"]
