"""SIGKILL a stage midway, check what a reader sees, resume, compare with an uninterrupted run.

:func:`run_stage` runs one stage on a storage root; the kill tests call it in this process
for the reference run and in a child (``python -c``) that they SIGKILL as soon as the stage
writes a new file (plus a seeded random delay), then re-run it to completion.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TINY = REPO / "configs" / "train" / "tiny.yaml"
NAME, RENDER_RUN, RENDER_NAME, TRAIN_RUN = "studio", "ckpt-run", "killed", "kill-train"
OUTPUTS = {  # stage -> (folder it writes, failures-log stage)
    "shard": (f"datasets/{NAME}", "shard"),
    "extract": (f"densepose/{NAME}/studio", "extract"),
    "textures": (f"textures/{NAME}", "textures"),
    "render": (f"renders/{RENDER_RUN}/{RENDER_NAME}", "render"),
    "train": (f"runs/{TRAIN_RUN}", None),
}
TRAIN_OVERRIDES = ("checkpoint_every=1", "log_every=1", "batch_size=2", "stages.inpainter.steps=2",
                   "stages.predictive.steps=2", "stages.blending.steps=2")  # fmt: skip


@contextlib.contextmanager
def one_thread():
    """One torch thread (bitwise-reproducible CPU kernels), restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_stage(stage: str, src: str, root: str) -> None:
    """Run ``stage`` on ``root`` (``src``: the studio source folder, for ``shard``)."""
    with one_thread():
        if stage == "shard":
            from dpt_core.data.stage import ShardConfig, shard_dataset

            shard_dataset("studio", src, root, NAME, ShardConfig(max_count=2))
        elif stage == "extract":
            from dpt_core.densepose.options import ExtractOptions
            from dpt_core.densepose.stage import extract_dataset

            extract_dataset(root, NAME, ExtractOptions(source="studio"))
        elif stage == "textures":
            from dpt_core.textures import precompute_textures

            precompute_textures(root, NAME, n=16, source="studio")
        elif stage == "render":
            from dpt_core.render import RenderJob, render_pairs

            checkpoint = f"{root}/runs/{RENDER_RUN}"
            render_pairs(RenderJob(root, checkpoint, RENDER_NAME, shard_size=2), split="train")
        elif stage == "train":
            from dpt_core.train import load_config, train

            overrides = [f"root={root}", f"run={TRAIN_RUN}", *TRAIN_OVERRIDES]
            train(load_config(str(TINY), overrides))
        else:
            raise ValueError(f"unknown stage {stage!r}")


def child(stage: str, src: str, root: str) -> tuple[subprocess.Popen, IO[bytes]]:
    """:func:`run_stage` in a child process (one thread); its stderr goes to a temp file."""
    code = "import sys, reliability_kill as k; k.run_stage(*sys.argv[1:4])"
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _wait
    proc = subprocess.Popen(
        [sys.executable, "-c", code, stage, src, root], env=env, cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=errors,
    )  # fmt: skip
    return proc, errors


def _wait(stage: str, proc: subprocess.Popen, errors: IO[bytes], ok: tuple[int, ...]) -> int:
    code = proc.wait(timeout=600)
    if code not in ok:
        errors.seek(0)
        raise RuntimeError(f"{stage} child exited with {code}:\n{errors.read()[-3000:].decode()}")
    errors.close()
    return code


def _names(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


def run_and_kill(stage: str, src: str, root: str, delay: float, timeout: float = 300) -> bool:
    """Start the stage, SIGKILL it ``delay`` s after it writes a new file; True if it was
    killed midway, False if it finished first."""
    watch = Path(root) / OUTPUTS[stage][0]
    before = _names(watch)
    proc, errors = child(stage, src, root)
    deadline, fired = time.monotonic() + timeout, None
    while proc.poll() is None and time.monotonic() < deadline:
        if fired is None and _names(watch) - before:
            fired = time.monotonic()
        if fired is not None and time.monotonic() - fired >= delay:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.002)
    return _wait(stage, proc, errors, (0, -signal.SIGKILL)) == -signal.SIGKILL


def finish(stage: str, src: str, root: str) -> None:
    """Re-run the stage to completion in a child process; RuntimeError with its stderr."""
    _wait(stage, *child(stage, src, root), ok=(0,))


def snapshot(root: str, stage: str) -> dict[str, bytes]:
    """Output files of ``stage`` (not markers, temp files or locks: they hold times/uuids)."""
    folder = Path(root) / OUTPUTS[stage][0]
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(".done.json") and not p.name.startswith(".")
    }


def failure_rows(root: str, stage: str) -> list[tuple]:
    """The failures log of ``stage`` as sorted rows without their times (any storage URL)."""
    from dpt_core import storage

    log_stage = OUTPUTS[stage][1]
    if log_stage is None:
        return []
    name = RENDER_NAME if stage == "render" else NAME
    rows = [dataclasses.astuple(f)[:-1] for f in storage.read_failures(root, log_stage, name)]
    return sorted(rows)


def seeded_delays(seed: int, kills: int) -> list[float]:
    """Kill delays: the first at the first new file, the others random in [0, 0.4) s."""
    rng = random.Random(seed)
    return [0.0] + [rng.uniform(0.0, 0.4) for _ in range(kills - 1)]
