"""The studio data set on disk: layout, exact content, determinism, readers, failure."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from dpt_core import storage
from dpt_core.data.layouts.studio import StudioLayout
from dpt_core.iuv import read_iuv
from dpt_core.studio import generate_dataset, render_samples
from dpt_core.studio import stage as studio_dataset
from dpt_core.studio.poses import POSE_NAMES

ARGS = {"identities": 3, "poses": 2, "views": 2, "size": 48, "seed": 4}
COLUMNS = ["key", "image", "iuv", "mask", "identity", "person_id", "pose", "pose_index", "view",
           "yaw_deg", "split"]  # fmt: skip


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("studio") / "set"
    return out, generate_dataset(str(out), batch_size=5, **ARGS)


def test_layout_and_manifest(dataset):
    out, summary = dataset
    assert summary["samples"] == 12 and summary["train"] == 8 and summary["test"] == 4
    table = pq.read_table(out / "manifest.parquet")
    assert table.column_names == COLUMNS
    rows = table.to_pylist()
    assert [r["key"] for r in rows] == sorted(r["key"] for r in rows)
    assert rows[5]["key"] == "id00001_p000_v01" and rows[5]["person_id"] == "id00001"
    assert {r["split"] for r in rows if r["identity"] == 2} == {"test"}
    assert {r["split"] for r in rows if r["identity"] < 2} == {"train"}
    assert all(r["pose"] in POSE_NAMES and 0 <= r["yaw_deg"] < 360 for r in rows)
    for r in rows:
        assert all((out / r[col]).is_file() for col in ("image", "iuv", "mask"))
    assert sorted(p.name for p in (out / "atlases").iterdir()) == [
        f"id0000{i}.png" for i in range(3)
    ]
    assert (out / "studio.json").read_text().count('"seed": 4') == 1


def test_files_hold_exactly_the_rendered_samples(dataset):
    out, _ = dataset
    batch = render_samples(**ARGS)
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    for b, row in enumerate(rows):
        assert row["key"] == batch.keys[b]
        rgb = np.asarray(Image.open(out / row["image"]))
        assert np.array_equal(rgb, batch.rgb[b].permute(1, 2, 0).numpy())
        iuv = batch.iuv[b].permute(1, 2, 0).numpy()
        assert np.array_equal(cv2.imread(str(out / row["iuv"]), cv2.IMREAD_UNCHANGED), iuv)
        assert np.array_equal(read_iuv(str(out / row["iuv"])), iuv)
        mask = Image.open(out / row["mask"])
        assert mask.mode == "L" and set(np.unique(np.asarray(mask))) <= {0, 255}
        assert np.array_equal(np.asarray(mask) > 0, batch.mask[b, 0].numpy())
    atlas = np.asarray(Image.open(out / "atlases" / "id00001.png"))
    assert np.array_equal(atlas, batch.atlases[1].permute(1, 2, 0).numpy())


@pytest.mark.determinism
def test_same_seed_gives_byte_identical_files_whatever_the_batch_size(dataset, tmp_path):
    out, _ = dataset
    generate_dataset(str(tmp_path / "again"), batch_size=7, **ARGS)
    assert _files(tmp_path / "again") == _files(out)
    generate_dataset(str(tmp_path / "other"), batch_size=5, **{**ARGS, "seed": 5})
    other = _files(tmp_path / "other")
    assert other["images/id00000_p000_v00.png"] != _files(out)["images/id00000_p000_v00.png"]


def test_the_data_plane_studio_layout_reads_it(dataset):
    out, _ = dataset
    samples = list(StudioLayout().scan(str(out)))
    assert len(samples) == 12
    assert all(type(s).__name__ == "SourceSample" for s in samples)
    assert {s.person_id for s in samples} == {"id00000", "id00001", "id00002"}
    assert {s.split for s in samples} == {"train", "test"}


def test_any_fsspec_url(tmp_path):
    url = f"memory://studio-test-{uuid.uuid4().hex}/set"
    summary = generate_dataset(url, identities=1, poses=1, views=2, size=32, seed=0)
    table = pq.read_table(io.BytesIO(storage.read_bytes(storage.join(url, "manifest.parquet"))))
    assert summary["samples"] == table.num_rows == 2
    image = Image.open(io.BytesIO(storage.read_bytes(storage.join(url, table["image"][0].as_py()))))
    assert image.size == (32, 32) and image.mode == "RGB"


def test_a_failed_run_commits_no_manifest(tmp_path, monkeypatch):
    calls = []
    real = studio_dataset.render_scenes

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("render node lost")
        return real(*args, **kwargs)

    monkeypatch.setattr(studio_dataset, "render_scenes", flaky)
    with pytest.raises(RuntimeError, match="render node lost"):
        generate_dataset(str(tmp_path / "x"), identities=2, poses=1, views=2, size=32, batch_size=2)
    assert not (tmp_path / "x" / "manifest.parquet").exists()
    assert not (tmp_path / "x" / "studio.json").exists()
    assert not [p for p in (tmp_path / "x").iterdir() if p.name.startswith(".")]  # no temp file


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"identities": 0}, "identities"), ({"size": 4}, "size"), ({"workers": 0}, "workers"),
     ({"batch_size": 0}, "batch_size"), ({"views": True}, "views")],
)  # fmt: skip
def test_bad_arguments_name_the_argument(tmp_path, kwargs, name):
    args = {"identities": 1, "poses": 1, "views": 1, **kwargs}
    with pytest.raises(ValueError, match=name):
        generate_dataset(str(tmp_path / "bad"), **args)


@pytest.mark.slow
def test_worker_processes_write_the_same_bytes(dataset, tmp_path):
    out, _ = dataset
    generate_dataset(str(tmp_path / "par"), batch_size=3, workers=2, **ARGS)
    assert _files(tmp_path / "par") == _files(out)
