"""The render stage: determinism, resume, pose-bank targets, failures, argument errors."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from render_setup import (
    BANK,
    BASELINE_KERNELS,
    DATASET,
    RUN,
    STEP,
    save_tiny_run,
    studio_truth,
)

from dpt_core import render, storage
from dpt_core.data import shards
from dpt_core.data.pairs import read_pairs
from dpt_core.iuv import encode_iuv_png
from dpt_core.metrics.agreement import CUDA_RENDER_TOLERANCE, RENDER_TOLERANCE, assert_agree
from dpt_core.render import RenderJob, plan_render, render_pairs, render_requests
from dpt_core.render import stage as render_stage


def _decode(png: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]


def _sha(url: str) -> str:
    return hashlib.sha256(storage.read_bytes(url)).hexdigest()


def _job(tiny_root, name: str, **kw) -> RenderJob:
    return RenderJob(tiny_root.root, tiny_root.checkpoint, name, **kw)


def test_render_pairs_writes_shards_manifest_and_info(tiny_root):
    job = _job(tiny_root, "pairs", branches=("tex", "pred", "warp"), shard_size=4)
    summary = render_pairs(job)
    pairs = read_pairs(tiny_root.root, DATASET, "test")
    assert job.url == storage.join(tiny_root.root, "renders", RUN, "pairs")
    assert (summary.samples, summary.failures, summary.shards) == (pairs.num_rows, 0, 2)
    info = render.read_render_info(job.url)
    assert (info["step"], info["image_size"], info["atlas_n"]) == (STEP, 64, 16)
    assert info["branches"] == ["pred", "warp", "tex"]  # canonical order
    urls = shards.shard_urls(job.url)
    assert [u.rsplit("/", 1)[1] for u in urls] == ["pairs-00000.tar", "pairs-00001.tar"]
    rows = [r for u in urls for r in shards.read_manifest(shards.shard_manifest_url(u)).to_pylist()]
    expected = sorted(zip(pairs.column("source_key").to_pylist(),
                          pairs.column("target_key").to_pylist(), strict=True))  # fmt: skip
    assert sorted((r["source_key"], r["target_key"]) for r in rows) == expected
    assert {r["person_id"] for r in rows} == {"id00002"}
    assert {(r["checkpoint"], r["step"], r["members"]) for r in rows} == {
        (tiny_root.checkpoint, STEP, "png,pred.png,warp.png,tex.png")
    }
    sample = next(shards.iter_shard(urls[0]))
    assert (
        sample["__key__"] == rows[0]["key"] == f"{rows[0]['source_key']}__{rows[0]['target_key']}"
    )
    assert _decode(sample["png"]).shape == (64, 64, 3)
    assert _decode(sample["tex.png"]).shape == (6 * 16, 4 * 16, 3)


@pytest.mark.determinism
def test_same_settings_give_the_same_bytes(tiny_root):
    job = _job(tiny_root, "det", branches=("warp",))
    first = render_pairs(job, limit=4)
    tars = [r["shard"] for r in first.shard_results]
    files = [*tars, *map(shards.shard_manifest_url, tars), storage.join(job.url, "render.json")]
    before = {u: _sha(u) for u in files}
    shutil.rmtree(job.url)
    second = render_pairs(job, limit=4)
    assert second.rendered == 1 and second.skipped == 0
    assert {u: _sha(u) for u in before} == before


def _images(summary: render.RenderSummary) -> dict[str, np.ndarray]:
    """``{member: (B, H, W, 3) uint8}`` of a render set, samples in key order."""
    samples = sorted(
        (s for r in summary.shard_results for s in shards.iter_shard(r["shard"])),
        key=lambda s: s["__key__"],
    )
    assert samples, "nothing was rendered"
    members = [m for m in samples[0] if m != "__key__"]
    return {"keys": np.array([s["__key__"] for s in samples])} | {
        m: np.stack([_decode(s[m]) for s in samples]) for m in members
    }


def _assert_renders_agree(got: dict, want: dict, what: str, tolerance=RENDER_TOLERANCE) -> None:
    assert got.keys() == want.keys() and (got["keys"] == want["keys"]).all(), what
    for member in sorted(set(want) - {"keys"}):
        assert_agree(got[member], want[member], tolerance, f"{what} {member}")


@pytest.mark.determinism
def test_batch_size_and_threads_change_renders_within_tolerance(tiny_root):
    """Other kernels run for other batch shapes and thread counts: <= 1 grey level apart."""
    branches = ("pred", "warp")
    want = _images(render_pairs(_job(tiny_root, "tol-b8", branches=branches)))
    assert want["png"].shape == (6, 64, 64, 3)
    for batch_size in (1, 4):  # batches of 1 alone, and 4 + 2
        job = _job(tiny_root, f"tol-b{batch_size}", branches=branches, batch_size=batch_size)
        _assert_renders_agree(_images(render_pairs(job)), want, f"batch_size={batch_size}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1 if threads > 1 else 2)
    try:
        got = _images(render_pairs(_job(tiny_root, "tol-threads", branches=branches)))
    finally:
        torch.set_num_threads(threads)
    _assert_renders_agree(got, want, "other thread count")


@pytest.mark.determinism
def test_renders_on_baseline_cpu_kernels_agree_within_tolerance(tiny_root):
    """A child process on the kernels of a baseline x86-64 CPU (no AVX) renders the set again."""
    want = _images(render_pairs(_job(tiny_root, "isa-here", branches=("pred",))))
    script = (
        "import sys, torch\n"
        "from dpt_core.render import RenderJob, render_pairs\n"
        "print(torch.backends.cpu.get_cpu_capability())\n"
        "render_pairs(RenderJob(sys.argv[1], sys.argv[2], 'isa-baseline', branches=('pred',)))\n"
    )
    args = [sys.executable, "-c", script, tiny_root.root, tiny_root.checkpoint]
    env = {**os.environ, **BASELINE_KERNELS}
    child = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.split() == ["DEFAULT"]
    other = render.read_render_info(storage.join(tiny_root.root, "renders", RUN, "isa-baseline"))
    assert other["requests"] == len(want["keys"])
    again = render_pairs(_job(tiny_root, "isa-baseline", branches=("pred",)))
    assert again.skipped == 1 and again.rendered == 0  # the shard it made is up to date here
    _assert_renders_agree(_images(again), want, "baseline CPU kernels")


def test_second_run_does_no_work(tiny_root, monkeypatch):
    job = _job(tiny_root, "resume", shard_size=3)
    first = render_pairs(job)
    assert first.rendered == 2
    mtimes = {u: storage.url_to_fs(u)[0].modified(u) for u in shards.shard_urls(job.url)}

    def no_model(*args):
        raise AssertionError("a committed shard must not load the model")

    monkeypatch.setattr(render_stage, "load_render_model", no_model)
    monkeypatch.setattr(render_stage, "fetch_members", no_model)
    second = render_pairs(job)
    assert (second.rendered, second.skipped, second.samples) == (0, 2, first.samples)
    assert {u: storage.url_to_fs(u)[0].modified(u) for u in mtimes} == mtimes
    monkeypatch.undo()
    storage.url_to_fs(shards.shard_urls(job.url)[1])[0].rm_file(
        storage.marker_url(shards.shard_urls(job.url)[1])
    )
    third = render_pairs(job)
    assert (third.rendered, third.skipped) == (1, 1)


def test_new_checkpoint_re_renders(tiny_root):
    job = _job(tiny_root, "ckpt-change")
    render_pairs(job, limit=2)

    other = save_tiny_run(tiny_root.root, run="other-run", seed=1)
    moved = RenderJob(tiny_root.root, other, "ckpt-change", run=RUN)
    assert render_pairs(moved, limit=2).rendered == 1


def test_pose_bank_targets(tiny_root):
    bank_keys = sorted(k.stem for k in (tiny_root.bank / "iuv").glob("*.png"))
    job = _job(tiny_root, "posebank", pose_bank=BANK, branches=("warp",))
    requests = [("id00002_p000_v00", bank_keys[0]), ("id00000_p001_v02", bank_keys[-1])]
    summary = render_requests(job, requests)
    assert (summary.samples, summary.failures) == (2, 0)
    url = summary.shard_results[0]["shard"]
    rows = shards.read_manifest(shards.shard_manifest_url(url)).to_pylist()
    assert {r["target_dataset"] for r in rows} == {BANK}
    assert {r["person_id"] for r in rows} == {"id00002", "id00000"}
    for sample, row in zip(shards.iter_shard(url), rows, strict=True):
        bank_iuv = studio_truth(tiny_root.bank, row["target_key"]).iuv  # 48 px
        body = cv2.resize(bank_iuv[..., 0], (64, 64), interpolation=cv2.INTER_NEAREST) > 0
        warped = _decode(sample["warp.png"])
        assert (warped[~body] == 128).all()  # the warped image is 0 (grey) off the bank's body
        assert (warped[body] != 128).any(axis=-1).mean() > 0.9
    bank_requests = render.pose_bank_requests(job, "test", per_source=3)
    pairs = read_pairs(tiny_root.root, DATASET, "test")
    images = set(pairs.column("source_key").to_pylist() + pairs.column("target_key").to_pylist())
    assert sorted({s for s, _ in bank_requests}) == sorted(images)
    assert len(bank_requests) == 3 * len(images)
    assert {t for _, t in bank_requests} <= set(bank_keys)
    assert bank_requests == render.pose_bank_requests(job, "test", per_source=3)


def _broken_bank(root: str) -> list[str]:
    """IUV shards of a pose bank with an empty IUV and an undecodable one."""
    folder = storage.join(root, "densepose", "broken", "studio")
    empty = encode_iuv_png(np.zeros((64, 64, 3), np.uint8))
    samples = [{"__key__": "empty", "iuv.png": empty}, {"__key__": "garbage", "iuv.png": b"xx"}]
    shard = storage.join(folder, "broken-00000.tar")
    shards.write_shard(shard, samples)
    shards.write_manifest(
        shards.shard_manifest_url(shard), [{"key": s["__key__"]} for s in samples]
    )
    return ["empty", "garbage"]


def test_failures_are_logged_and_the_rest_rendered(tiny_root):
    _broken_bank(tiny_root.root)
    good, bank_key = "id00002_p000_v00", "id00000_p000_v00"
    job = _job(tiny_root, "failing", pose_bank="broken")
    requests = [(good, "empty"), (good, "garbage"), (good, "nope"), ("missing", "empty")]
    summary = render_requests(job, requests)
    assert (summary.samples, summary.failures) == (0, 4)
    found = {(f.key, f.reason) for f in storage.read_failures(tiny_root.root, "render", "failing")}
    assert found == {
        (f"{good}__empty", "bad iuv"), (f"{good}__garbage", "bad iuv"),
        (f"{good}__nope", "missing target"), ("missing__empty", "missing source"),
    }  # fmt: skip
    same = _job(tiny_root, "failing-mixed")
    mixed = render_requests(same, [(good, bank_key), ("missing", bank_key)])
    assert (mixed.samples, mixed.failures) == (1, 1)
    again = render_requests(same, [(good, bank_key), ("missing", bank_key)])
    assert again.skipped == 1
    assert len(storage.read_failures(tiny_root.root, "render", "failing-mixed")) == 1


def test_bad_arguments_name_themselves(tiny_root):
    with pytest.raises(ValueError, match="branches"):
        _job(tiny_root, "x", branches=("depth",))
    with pytest.raises(ValueError, match="run"):
        RenderJob(tiny_root.root, "/elsewhere/model.pt", "x")
    with pytest.raises(ValueError, match="name"):
        _job(tiny_root, "a/b")
    with pytest.raises(ValueError, match="device"):
        _job(tiny_root, "x", device="gpu")
    with pytest.raises(FileNotFoundError, match=re.escape("no-such.pt")):
        plan_render(RenderJob(tiny_root.root, "/x/runs/r/no-such.pt", "x"), [("a", "b")])
    with pytest.raises(ValueError, match=re.escape("'.'")):
        render.requests_table([("a.b", "c")], 8)
    with pytest.raises(ValueError, match="nothing to render"):
        plan_render(_job(tiny_root, "empty"), [])
    with pytest.raises(FileNotFoundError, match="densepose/nobank"):
        render_requests(_job(tiny_root, "x", pose_bank="nobank"), [("a", "b")])


def test_pairs_requests_limit_is_an_even_spread(tiny_root):
    job = _job(tiny_root, "limits")
    every = render.pairs_requests(job)
    assert every.num_rows == read_pairs(tiny_root.root, DATASET, "test").num_rows == 6
    assert every.column("key").to_pylist() == sorted(every.column("key").to_pylist())
    assert render.pairs_requests(job, limit=3).column("key").to_pylist() == [
        every.column("key")[i].as_py()
        for i in (0, 2, 5)  # linspace(0, 5, 3) rounded
    ]
    with pytest.raises(ValueError, match="limit"):
        render.pairs_requests(job, limit=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_renders_match_cpu(tiny_root):
    cpu = render_pairs(_job(tiny_root, "dev-cpu", branches=("pred",)), limit=2)
    gpu = render_pairs(_job(tiny_root, "dev-cuda", branches=("pred",), device="cuda"), limit=2)
    _assert_renders_agree(_images(gpu), _images(cpu), "cuda against cpu", CUDA_RENDER_TOLERANCE)
