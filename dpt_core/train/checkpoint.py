"""Training checkpoints on any fsspec URL: models, optimisers, step, RNG states.

Layout: ``runs/RUN/checkpoints/step-000100.pt`` and ``runs/RUN/checkpoints/latest`` (a text
file naming the newest checkpoint, written after it). A checkpoint is one ``torch.save`` dict
of tensors and plain types only, written atomically, so ``torch.load(weights_only=True)``
reads it: ``format``, ``step``, ``stage``, ``models`` (state dicts), ``optimizers``, ``scaler``,
``rng`` (torch, CUDA, numpy and Python states as tensors and ints), ``metrics`` (the logging
accumulator), ``scale`` (the ``ModelScale`` values), ``config`` (the resolved config) and
``world_size``.
"""

from __future__ import annotations

import io
import logging
import random
from typing import Any

import numpy as np
import torch

from dpt_core import storage
from dpt_core.models import DensePoseTransfer, ModelScale

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
LATEST = "latest"


def checkpoints_url(run_url: str) -> str:
    """``RUN/checkpoints``."""
    return storage.join(run_url, "checkpoints")


def checkpoint_url(run_url: str, step: int) -> str:
    """``RUN/checkpoints/step-000100.pt``."""
    return storage.join(checkpoints_url(run_url), f"step-{step:06d}.pt")


def rng_state() -> dict[str, Any]:
    """Torch (CPU, CUDA), numpy (legacy global) and Python RNG states as tensors / plain types."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(cuda),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
            "kind": str(kind),
        },
        "python": {
            "version": int(version),
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss": py_gauss,
        },
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np_state = state["numpy"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state(
        (np_state["kind"], keys, np_state["pos"], np_state["has_gauss"], np_state["gauss"])
    )
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))


def save_checkpoint(run_url: str, step: int, payload: dict[str, Any]) -> str:
    """Write ``payload`` (plus format and step) as the step's checkpoint, then ``latest``."""
    url = checkpoint_url(run_url, step)
    buffer = io.BytesIO()
    torch.save({**payload, "format": CHECKPOINT_FORMAT, "step": step}, buffer)
    storage.write_bytes(url, buffer.getvalue())
    storage.write_bytes(
        storage.join(checkpoints_url(run_url), LATEST), url.rsplit("/", 1)[-1].encode()
    )
    logger.info("checkpoint %s", url)
    return url


def latest_checkpoint(run_url: str) -> str | None:
    """URL of the run's newest checkpoint (from ``latest``), or None when there is none."""
    pointer = storage.join(checkpoints_url(run_url), LATEST)
    if not storage.exists(pointer):
        return None
    name = storage.read_bytes(pointer).decode().strip()
    url = storage.join(checkpoints_url(run_url), name)
    return url if storage.exists(url) else None


def resolve_checkpoint(url: str) -> str:
    """A ``.pt`` URL as is; a run folder or its ``checkpoints`` folder -> its latest checkpoint."""
    if url.endswith(".pt"):
        return url
    for run_url in (url, url.rstrip("/").rsplit("/", 1)[0]):
        found = latest_checkpoint(run_url)
        if found is not None:
            return found
    raise FileNotFoundError(f"no checkpoint found at {url} (no .pt file, no checkpoints/latest)")


def load_checkpoint(url: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; FileNotFoundError / ValueError name ``url``."""
    url = resolve_checkpoint(url)
    data = storage.read_bytes(url)
    try:
        payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as exc:  # the weights-only unpickler raises many types on damaged bytes
        why = f"{type(exc).__name__}: {exc}"
        raise ValueError(f"{url}: not a readable checkpoint ({why})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{url}: not a dpt training checkpoint (format {CHECKPOINT_FORMAT})")
    models = payload.get("models")
    if not isinstance(payload.get("scale"), dict) or not isinstance(models, dict):
        raise ValueError(f"{url}: checkpoint lacks its model scale or weights ('scale', 'models')")
    if "generator" not in models or not isinstance(payload.get("step"), int):
        raise ValueError(f"{url}: checkpoint lacks the generator weights or its step")
    payload["url"] = url
    return payload


def checkpoint_scale(payload: dict) -> ModelScale:
    """The ``ModelScale`` a checkpoint was trained with; fields added since it was saved take
    the value that reproduces its old behaviour (the blender: correction everywhere, no source
    copy)."""
    scale = dict(payload["scale"])
    scale["blender"] = {"correction": "everywhere", "copy_source": False, **scale["blender"]}
    return ModelScale.model_validate(scale)


def load_generator(
    checkpoint_url: str, device: str | torch.device = "cpu"
) -> tuple[DensePoseTransfer, ModelScale]:
    """The trained generator (eval mode, on ``device``) and its scale from a checkpoint.

    ``checkpoint_url``: a ``.pt`` file, a run folder or its ``checkpoints`` folder.
    """
    payload = load_checkpoint(checkpoint_url)
    scale = checkpoint_scale(payload)
    generator = DensePoseTransfer.from_config(scale)
    generator.load_state_dict(payload["models"]["generator"])
    return generator.to(device).eval(), scale
