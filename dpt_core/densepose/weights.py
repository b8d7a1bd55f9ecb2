"""DensePose R-CNN weights: read official ``.pth`` / model-zoo ``.pkl`` files from any URL.

``.pth`` (and any non-``.pkl`` file) goes through ``torch.load(weights_only=True)``. A ``.pkl``
is a pickled ``{"model": {name: numpy array}, "__author__": ...}`` dict (detectron2 model-zoo
format); unpickling can run code, so it needs ``allow_pickle=True`` (CLI ``--trust-pickle``),
and even then only numpy arrays and plain containers are reconstructed. Loading itself goes
through detectron2's ``DetectionCheckpointer`` and must leave no missing or unexpected keys.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import logging
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from torch import nn

from dpt_core import storage

logger = logging.getLogger(__name__)

# Buffers derived from the config; old checkpoints may carry them, they are never loaded.
_IGNORED_KEYS = ("pixel_mean", "pixel_std")
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("collections", "OrderedDict"): ("collections", "OrderedDict"),
    ("_codecs", "encode"): ("_codecs", "encode"),  # bytes inside protocol-2 pickles
}


@dataclass(frozen=True)
class WeightsInfo:
    """What was loaded: the URL, the sha256 of its bytes and the number of tensors."""

    url: str
    sha256: str
    n_tensors: int


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        target = _PICKLE_ALLOWED.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        return getattr(importlib.import_module(target[0]), target[1])


def _read_weight_bytes(url: str) -> bytes:
    try:
        return storage.read_bytes(url)
    except FileNotFoundError:
        raise FileNotFoundError(f"DensePose weights not found: {url}") from None


def _unpickle(data: bytes, url: str, allow_pickle: bool) -> Any:
    if not allow_pickle:
        raise ValueError(
            f"weights: {url} is a pickle; unpickling can run code, so pass allow_pickle=True "
            "(CLI --trust-pickle) only if you trust where the file came from"
        )
    try:
        return _ArraysOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise ValueError(f"weights: {url} is not a model-zoo .pkl of numpy arrays: {exc}") from None


def _torch_load(data: bytes, url: str) -> Any:
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or corrupt files
        raise ValueError(f"weights: {url} is not a readable torch checkpoint: {exc}") from None


def _state_dict_from(obj: Any, url: str) -> dict[str, np.ndarray | torch.Tensor]:
    if isinstance(obj, Mapping) and "model" in obj:
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not obj:
        raise ValueError(f"weights: {url} holds no state dict (expected a 'model' mapping)")
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, np.ndarray | torch.Tensor):
            raise ValueError(f"weights: {url}: entry {key!r} is not an array or tensor")
    return dict(obj)


def read_checkpoint(
    weights_url: str, allow_pickle: bool = False
) -> tuple[dict[str, np.ndarray | torch.Tensor], str]:
    """Read a checkpoint from a path or URL; returns (state dict, sha256 hex of the file)."""
    data = _read_weight_bytes(weights_url)
    sha256 = hashlib.sha256(data).hexdigest()
    if weights_url.lower().endswith(".pkl"):
        obj = _unpickle(data, weights_url, allow_pickle)
    else:
        obj = _torch_load(data, weights_url)
    return _state_dict_from(obj, weights_url), sha256


def _describe(keys: list[str]) -> str:
    return f"{len(keys)} (e.g. {', '.join(keys[:3])})"


def load_weights(model: nn.Module, weights_url: str, allow_pickle: bool = False) -> WeightsInfo:
    """Load ``weights_url`` into ``model`` through detectron2's checkpointer, strictly.

    Raises FileNotFoundError (one line) for a missing file and ValueError when keys are
    missing, unexpected or of the wrong shape.
    """
    state, sha256 = read_checkpoint(weights_url, allow_pickle)
    n_tensors = len(state)
    checkpointer = DetectionCheckpointer(model)
    incompatible = checkpointer._load_model({"model": state, "__author__": weights_url})
    unexpected = [k for k in incompatible.unexpected_keys if k not in _IGNORED_KEYS]
    problems = []
    if incompatible.missing_keys:
        problems.append(f"missing keys {_describe(list(incompatible.missing_keys))}")
    if unexpected:
        problems.append(f"unexpected keys {_describe(unexpected)}")
    if incompatible.incorrect_shapes:
        problems.append(f"wrong shapes {_describe([k for k, *_ in incompatible.incorrect_shapes])}")
    if problems:
        raise ValueError(f"weights: {weights_url} does not fit the model: {'; '.join(problems)}")
    logger.info("loaded %d tensors from %s (sha256 %s)", n_tensors, weights_url, sha256[:12])
    return WeightsInfo(weights_url, sha256, n_tensors)


def save_weights(model: nn.Module, url: str, fmt: Literal["pth", "pkl"] = "pth") -> None:
    """Save ``model`` in an official format: ``pth`` = torch ``{"model": state_dict}``,
    ``pkl`` = model-zoo pickle of numpy arrays. Written atomically through storage."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    if fmt == "pth":
        torch.save({"model": state}, buffer)
    elif fmt == "pkl":
        arrays = {k: v.numpy() for k, v in state.items()}
        pickle.dump({"model": arrays, "__author__": "dpt_core.densepose"}, buffer, protocol=4)
    else:
        raise ValueError(f"fmt: expected 'pth' or 'pkl', got {fmt!r}")
    storage.write_bytes(url, buffer.getvalue())
