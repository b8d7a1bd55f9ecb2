"""Training data: the index, streamed batches, resume, rank split, flat memory, resizing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
import torch

from dpt_core import storage
from dpt_core.atlas import scatter_torch
from dpt_core.data.shards import iter_shard, read_manifest, write_manifest
from dpt_core.train import order
from dpt_core.train.data import ItemPlan, SampleCache, StreamSpec, TrainStream, make_loader
from dpt_core.train.index import ShardFiles, TrainIndex, build_index
from dpt_core.train.samples import decode_sample, fit_square


def _spec(kind: str = "pairs", **changes) -> StreamSpec:
    base = {
        "kind": kind,
        "batch_size": 4,
        "image_size": 64,
        "atlas_n": 16,
        "seed": 0,
        "stage": "predictive" if kind == "pairs" else "inpainter",
        "views": 2,
        "buffer": 8,
    }
    return StreamSpec(**{**base, **changes})


def test_index_of_the_studio_root(studio_root: str) -> None:
    index = build_index(studio_root, "studio", atlas_n=16)
    assert index.persons == ("id00000", "id00001")  # id00002 is the test person
    assert len(index) == 12 and len(index.pairs) == 2 * 6 * 5
    assert index.has_texture.all()
    for i, key in enumerate(index.keys):
        shard = index.shards[index.sample_shard[i]]
        assert key in {s["__key__"] for s in iter_shard(shard.images)}
        assert index.persons[index.sample_person[i]] == key[:7]
    no_textures = build_index(studio_root, "studio", atlas_n=32)  # textures are at n=16
    assert not no_textures.has_texture.any()
    assert all(s.textures is None for s in no_textures.shards)


def test_blender_split_gives_each_side_its_own_persons(studio_root: str) -> None:
    index = build_index(studio_root, "studio", atlas_n=16)
    branches, blender = index.blender_split(2)  # persons 0, 2, ... go to the blender
    for side, person in ((branches, "id00001"), (blender, "id00000")):
        assert side.persons == index.persons
        assert {k[:7] for k in side.keys} == {person}
        assert len(side.pairs) == 6 * 5 and len(side) == 6
        assert {side.persons[p] for p in side.sample_person[side.pairs].ravel()} == {person}
        for i, key in enumerate(side.keys):  # sample arrays stay aligned with their keys
            assert index.sample_shard[list(index.keys).index(key)] == side.sample_shard[i]
    with pytest.raises(ValueError, match="needs two persons or more, got 1"):
        blender.blender_split(2)
    with pytest.raises(ValueError, match="no pair left"):
        index.of_persons(np.zeros(len(index.persons), bool))


def test_pairs_without_iuv_are_dropped(studio_root: str, tmp_path: Path) -> None:
    fs, _ = storage.url_to_fs(studio_root)
    for folder in ("datasets", "densepose", "pairs"):
        fs.copy(f"{studio_root}/{folder}", f"{tmp_path}/{folder}", recursive=True)
    manifest_url = f"{tmp_path}/densepose/studio/studio/studio-00000.parquet"
    table = read_manifest(manifest_url)
    write_manifest(manifest_url, table.filter(pc.not_equal(table["key"], "id00000_p000_v00")))
    index = build_index(str(tmp_path), "studio")
    assert len(index.pairs) == 60 - 2 * 5 and "id00000_p000_v00" not in set(index.keys)
    with pytest.raises(ValueError, match="no usable train pairs"):
        build_index(str(tmp_path), "studio", iuv_source="detectron2")


def test_pair_batch_contents(studio_root: str) -> None:
    index = build_index(studio_root, "studio", atlas_n=16)
    batch = next(iter(TrainStream(index, _spec())))
    assert batch["source"].shape == (4, 3, 64, 64) and batch["source"].dtype == torch.float32
    assert batch["source_iuv"].dtype == torch.uint8 and batch["partial_atlas"].shape == (
        4,
        3,
        96,
        64,
    )
    assert batch["source"].min() >= -1 and batch["source"].max() <= 1
    for i, pair in enumerate(batch["keys"]):
        source, target = pair.split(">")
        assert source != target and source[:7] == target[:7]
        assert index.persons[batch["person"][i]] == source[:7]
    # the precomputed texture is the scatter of the uint8 image: within half a level
    scattered, visible = scatter_torch(batch["source"], batch["source_iuv"], 16)
    torch.testing.assert_close(batch["visibility"], visible)
    assert (batch["partial_atlas"] - scattered).abs().max() <= 0.5 / 127.5 + 1e-6
    mask = batch["target_mask"]
    assert set(mask.unique().tolist()) <= {0.0, 1.0} and mask.sum() > 0
    assert (mask >= (batch["target_iuv"][:, :1] > 0)).all()  # the person mask covers the body


def test_multiview_batches_hold_views_of_one_person(studio_root: str) -> None:
    index = build_index(studio_root, "studio", atlas_n=16)
    stream = iter(TrainStream(index, _spec("multiview", batch_size=6, views=3)))
    for _ in range(3):
        batch = next(stream)
        persons = batch["person"].reshape(2, 3)
        assert (persons == persons[:, :1]).all()
        for group in np.asarray(batch["keys"]).reshape(2, 3):
            assert len(set(group)) == 3 and len({k[:7] for k in group}) == 1


@pytest.mark.parametrize("workers", [0, 2])
def test_resumed_stream_continues_exactly(studio_root: str, workers: int) -> None:
    index = build_index(studio_root, "studio", atlas_n=16)
    full = iter(make_loader(TrainStream(index, _spec()), workers))
    keys = [next(full)["keys"] for _ in range(20)]  # 80 pairs: across an epoch boundary
    resumed = iter(make_loader(TrainStream(index, _spec(), start_batch=13), workers))
    assert [next(resumed)["keys"] for _ in range(7)] == keys[13:]
    again = iter(make_loader(TrainStream(index, _spec()), workers))
    assert next(again)["keys"] == keys[0]


def test_ranks_and_workers_split_each_epoch(studio_root: str) -> None:
    index = build_index(studio_root, "studio", atlas_n=16)
    plan = ItemPlan(index, _spec())
    per_slot = plan.items_per_epoch // 4
    shares = []
    for slot in range(4):  # 2 ranks × 2 workers
        events = plan.events(slot, 4, 0)
        emits = []
        while len(emits) < per_slot:
            event = next(events)
            if isinstance(event, order.Emit):
                emits.append(tuple(event.item.tolist()))
        shares.append(set(emits))
    assert sum(len(s) for s in shares) == 60
    assert set().union(*shares) == {tuple(p) for p in index.pairs.tolist()}


def _synthetic_index(n_shards: int, per_shard: int) -> TrainIndex:
    """Persons of 4 samples in consecutive shards; all ordered pairs of each person."""
    n = n_shards * per_shard
    person = np.arange(n) // 4
    pairs = np.array(
        [(a, b) for a in range(n) for b in range(n) if a != b and person[a] == person[b]]
    )
    shards = tuple(ShardFiles(i, f"s{i}", f"i{i}", None) for i in range(n_shards))
    return TrainIndex(
        shards,
        np.array([f"k{i}" for i in range(n)], object),
        np.arange(n) // per_shard,
        person,
        np.zeros(n, bool),
        pairs,
        tuple(f"p{p}" for p in range(person.max() + 1)),
    )


@pytest.mark.parametrize("n_shards", [10, 80])
def test_cache_stays_flat_in_the_data_set_size(n_shards: int, monkeypatch) -> None:
    """Cached samples stay under (buffer + one unit) items' samples, whatever the size."""
    loads = []

    def fake_load(self, shard: int, ids: list[int]) -> None:
        loads.append(shard)
        self.members.update({i: {"iuv.png": b""} for i in ids})

    monkeypatch.setattr(SampleCache, "_load", fake_load)
    index = _synthetic_index(n_shards, per_shard=6)
    cache, most = SampleCache(index), 0
    for event in ItemPlan(index, _spec(buffer=8)).events(0, 1, 0):
        if isinstance(event, order.Feed):
            cache.acquire(event.items)
        else:
            cache.release(event.item)
            if event.epoch == 1:
                break
        most = max(most, len(cache.members))
    assert most <= 2 * 8 + 12  # buffered pairs' samples + the two shards of one unit
    assert not cache.refs.keys() - cache.members.keys()
    assert len(loads) <= 3 * n_shards  # each shard read about once per epoch


def test_decode_resizes_with_nearest_iuv(studio_root: str) -> None:
    sample = next(iter_shard(f"{studio_root}/datasets/studio/shards/studio-00000.tar"))
    iuv = next(iter_shard(f"{studio_root}/densepose/studio/studio/studio-00000.tar"))
    members = {"png": sample["png"], "iuv.png": iuv["iuv.png"], "mask.png": sample["mask.png"]}
    full = decode_sample("k", members, 64, 16)
    half = decode_sample("k", members, 32, 16)
    assert half.image.shape == (3, 32, 32) and half.iuv.shape == (3, 32, 32)
    assert set(half.iuv[0].unique().tolist()) <= set(full.iuv[0].unique().tolist())
    pairs = set(map(tuple, half.iuv.reshape(3, -1).T.tolist()))
    assert pairs <= set(map(tuple, full.iuv.reshape(3, -1).T.tolist()))  # no blended IUV
    with pytest.raises(ValueError, match="k: image"):
        decode_sample("k", {**members, "iuv.png": _iuv_png(8)}, 64, 16)


def _iuv_png(size: int) -> bytes:
    from dpt_core.iuv import encode_iuv_png

    return encode_iuv_png(np.zeros((size, size, 3), np.uint8))


def test_fit_square_pads_centred_then_resizes() -> None:
    tall = np.arange(8, dtype=np.uint8).reshape(4, 2)
    out = fit_square(tall, 4, nearest=True, fill=0)
    expected = np.zeros((4, 4), np.uint8)
    expected[:, 1:3] = tall
    np.testing.assert_array_equal(out, expected)
    assert fit_square(tall, 2, nearest=True, fill=0).shape == (2, 2)
    edges = fit_square(tall, 4, nearest=True, fill=None)  # the image's padding: no colour bars
    np.testing.assert_array_equal(edges[:, 0], tall[:, 0])
    np.testing.assert_array_equal(edges[:, 3], tall[:, 1])


def test_an_undecodable_sample_is_replaced_in_its_batch(studio_root: str, monkeypatch) -> None:
    from dpt_core.train import data

    index = build_index(studio_root, "studio", atlas_n=16)
    first = next(iter(TrainStream(index, _spec())))
    broken = first["keys"][1].split(">")[0]

    def decode(key: str, *args):
        if key == broken:
            raise ValueError(f"{key}: corrupt image")
        return decode_sample(key, *args)

    monkeypatch.setattr(data, "decode_sample", decode)
    batch = next(iter(TrainStream(index, _spec())))
    assert len(batch["keys"]) == 4 and batch["source"].shape[0] == 4
    assert all(broken not in pair.split(">") for pair in batch["keys"])
    assert batch["keys"][1] == batch["keys"][0]  # the first good pair stands in
