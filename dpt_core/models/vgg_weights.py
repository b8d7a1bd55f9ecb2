"""VGG-19 weight files -> one state dict of tensors, and the key layout that state dict uses.

Formats, by file extension: ``.caffemodel`` (Caffe protobuf, read by ``vgg_caffe``), ``.npz``
(numpy archive, read without pickle), anything else a ``torch.save`` state dict (loaded with
``weights_only``). Layouts, by keys: torchvision (``features.0.weight``, ...) or Caffe layer
names (``conv1_1.weight``, ``conv1_1.bias``, ... ``conv5_4.bias``).
"""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from collections.abc import Collection, Iterable
from typing import Literal

import numpy as np
import torch

from dpt_core import storage
from dpt_core.models.vgg_caffe import read_caffemodel

Layout = Literal["torchvision", "caffe"]
LAYOUTS: tuple[Layout, ...] = ("torchvision", "caffe")
WEIGHTS_HELP = (
    "get torchvision's vgg19-dcbb9e9d.pth (https://download.pytorch.org/models/vgg19-dcbb9e9d.pth)"
    " or the Oxford VGG release's VGG_ILSVRC_19_layers.caffemodel "
    "(https://www.robots.ox.ac.uk/~vgg/research/very_deep/), or set losses.vgg_weights=null "
    "to train without perceptual and style losses"
)
_CAFFE_KEY = re.compile(r"conv[1-5]_[1-4]\.(weight|bias)")


def detect_layout(keys: Iterable[str], source: str) -> Layout:
    """``"torchvision"`` if a key starts with ``features.``, ``"caffe"`` if one is a Caffe conv
    parameter (``conv1_1.weight``); ValueError naming the first key otherwise."""
    names = [str(k) for k in keys]
    if any(k.startswith("features.") for k in names):
        return "torchvision"
    if any(_CAFFE_KEY.fullmatch(k) for k in names):
        return "caffe"
    first = names[0] if names else None
    raise ValueError(
        f"{source}: not VGG-19 weights: no torchvision key (features.0.weight) and no Caffe "
        f"layer name (conv1_1.weight); first key {first!r}"
    )


def read_weights(url: str, wanted: Collection[str] | None = None) -> dict[str, torch.Tensor]:
    """The state dict in the file at ``url`` (path or fsspec URL), keys as the file names them.

    ``wanted``: the Caffe layer names to decode from a ``.caffemodel`` (all when None). Raises
    FileNotFoundError (one line: the path and how to get the file) and ValueError (unreadable).
    """
    try:
        data = storage.read_bytes(url)
    except FileNotFoundError:
        raise FileNotFoundError(f"VGG-19 weights file not found: {url}; {WEIGHTS_HELP}") from None
    name = url.rsplit("/", 1)[-1].lower()
    if name.endswith(".caffemodel"):
        return _from_caffemodel(data, url, wanted)
    if name.endswith(".npz"):
        return _from_npz(data, url)
    return _from_torch(data, url)


def _from_caffemodel(
    data: bytes, url: str, wanted: Collection[str] | None
) -> dict[str, torch.Tensor]:
    try:
        layers = read_caffemodel(data, wanted)
    except ValueError as exc:
        raise ValueError(f"{url}: not a readable Caffe .caffemodel ({exc})") from None
    state = {}
    for layer, blobs in layers.items():
        for kind, blob in zip(("weight", "bias"), blobs, strict=False):
            state[f"{layer}.{kind}"] = torch.from_numpy(blob)
    return state


def _from_npz(data: bytes, url: str) -> dict[str, torch.Tensor]:
    state = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                with archive.open(member) as fp:
                    array = np.lib.format.read_array(fp, allow_pickle=False)
                state[member[:-4]] = torch.from_numpy(np.ascontiguousarray(array, np.float32))
    except (zipfile.BadZipFile, ValueError, TypeError, OSError, EOFError) as exc:
        raise ValueError(f"{url}: not a readable .npz archive ({exc})") from None
    return state


def _from_torch(data: bytes, url: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise ValueError(f"{url}: not a readable torch state dict ({exc})") from exc
    if not isinstance(state, dict):
        raise ValueError(f"{url}: expected a state dict, got {type(state).__name__}")
    return state
