"""Crash and resume: SIGKILL shard, extract, textures, train and render midway, re-run them.

After every kill, whatever a reader can list is whole (each visible tar equals the reference
run's, byte for byte; each marker matches its output); after the re-run the outputs equal an
uninterrupted run's byte for byte (training: the same weights and losses to float tolerance).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from reliability_figures import FIGURES
from reliability_kill import (
    OUTPUTS,
    RENDER_RUN,
    TRAIN_RUN,
    failure_rows,
    finish,
    one_thread,
    run_and_kill,
    seeded_delays,
    snapshot,
)

from dpt_core import storage
from dpt_core.data import shards

TIMING = ("s_per_step", "data_s_per_step", "samples_per_s")
INPUTS = {  # what each stage reads, copied from the reference root
    "shard": (),
    "extract": ("datasets",),
    "textures": ("datasets", "densepose"),
    "render": ("datasets", "densepose", "pairs", f"runs/{RENDER_RUN}"),
    "train": ("datasets", "densepose", "textures", "pairs"),
}


def _reference_for(reference: SimpleNamespace, stage: str) -> str:
    """The shared reference root with ``stage`` run (for the tars a reader may see)."""
    if stage not in reference.done:
        finish(stage, reference.src, reference.root)  # a child: the same code as the kills
        reference.done.add(stage)
    return reference.root


def _work_root(reference: SimpleNamespace, stage: str, tag: str) -> str:
    work = reference.base / f"work-{stage}-{tag}"
    for rel in INPUTS[stage]:
        shutil.copytree(Path(reference.root) / rel, work / rel)
    work.mkdir(exist_ok=True)
    return str(work)


def _tar_folder(root: str, stage: str) -> str:
    folder = storage.join(root, OUTPUTS[stage][0])
    return storage.join(folder, "shards") if stage == "shard" else folder


def check_visible(stage: str, work: str, ref: str) -> None:
    """What a reader can list right after a kill is whole and final."""
    if stage == "train":
        _check_visible_checkpoint(work)
        return
    folder = _tar_folder(work, stage)
    if not storage.exists(folder):
        return
    for url in shards.shard_urls(folder):
        name = url.rsplit("/", 1)[1]
        reference = Path(_tar_folder(ref, stage)) / name
        if Path(url).read_bytes() != reference.read_bytes():
            FIGURES.add("kills", "partial_outputs_visible")
            raise AssertionError(f"{url} is visible but differs from the finished shard")
        list(shards.iter_shard(url))
        marker = storage.read_marker(url)
        assert marker is None or storage.is_committed(url, marker["fingerprint"])


def _check_visible_checkpoint(work: str) -> None:
    from dpt_core.train.checkpoint import latest_checkpoint, load_checkpoint

    latest = latest_checkpoint(storage.join(work, "runs", TRAIN_RUN))
    if latest is not None:
        assert load_checkpoint(latest)["step"] >= 1


def compare(stage: str, work: str, ref: str) -> None:
    if stage == "train":
        _compare_training(work, ref)
        return
    got, want = snapshot(work, stage), snapshot(ref, stage)
    differing = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    FIGURES.add("kills", "outputs_differing", len(differing))
    assert not differing, f"{stage}: outputs differ from the uninterrupted run: {differing}"
    assert failure_rows(work, stage) == failure_rows(ref, stage)


def _compare_training(work: str, ref: str) -> None:
    from dpt_core.train.checkpoint import latest_checkpoint, load_checkpoint

    runs = [storage.join(r, "runs", TRAIN_RUN) for r in (work, ref)]
    got, want = (load_checkpoint(latest_checkpoint(r)) for r in runs)
    assert got["step"] == want["step"] == 6
    differing = 0
    for model, state in want["models"].items():
        for key, value in state.items():
            if not torch.allclose(got["models"][model][key].float(), value.float(), atol=1e-6):
                differing += 1
    got_log, want_log = (pq.read_table(Path(r) / "metrics.parquet").to_pydict() for r in runs)
    assert got_log["step"] == want_log["step"] == [1, 2, 3, 4, 5, 6]
    losses = [c for c in want_log if c not in TIMING and any(type(v) is float for v in want_log[c])]
    assert len(losses) >= 3 and got_log.keys() == want_log.keys()
    for column in losses:
        got, want = (np.array(log[column], dtype=float) for log in (got_log, want_log))
        assert np.allclose(got, want, atol=1e-6, equal_nan=True), column
    FIGURES.add("kills", "outputs_differing", differing)
    assert differing == 0, f"{differing} tensors differ after kill + resume"


def kill_and_resume(reference: SimpleNamespace, stage: str, kills: int, seed: int) -> None:
    """Kill ``stage`` ``kills`` times, finish it, then compare with an uninterrupted run made
    afterwards at the same path (outputs may record their root, e.g. the checkpoint URL)."""
    visible_ref = _reference_for(reference, stage) if stage != "train" else reference.root
    work = _work_root(reference, stage, f"{kills}-{seed}")
    killed = 0
    for delay in seeded_delays(seed, kills):
        if run_and_kill(stage, reference.src, work, delay):
            killed += 1
            FIGURES.add("kills", "sigkills_delivered")
            FIGURES.add("kills", f"sigkills_{stage}")
        else:
            FIGURES.add("kills", "finished_before_kill")
        check_visible(stage, work, visible_ref)
    assert killed >= 1, f"{stage}: every run finished before it could be killed"
    finish(stage, reference.src, work)
    survivor = Path(work).rename(f"{work}-killed")
    clean = _work_root(reference, stage, f"{kills}-{seed}")  # the same path, fresh inputs
    finish(stage, reference.src, clean)
    compare(stage, str(survivor), clean)
    FIGURES.add("kills", "kills_survived", killed)


@pytest.mark.determinism
@pytest.mark.parametrize("stage", ["shard", "extract"])
def test_kill_and_resume_fast(reference: SimpleNamespace, stage: str) -> None:
    kill_and_resume(reference, stage, kills=2, seed=0)


@pytest.mark.determinism
@pytest.mark.slow
@pytest.mark.parametrize("stage", ["shard", "extract", "textures", "render", "train"])
@pytest.mark.parametrize("seed", [1, 2])
def test_kill_and_resume_full(reference: SimpleNamespace, stage: str, seed: int) -> None:
    with one_thread():
        kill_and_resume(reference, stage, kills=3, seed=seed)
