"""A minimal protobuf encoder writing real ``.caffemodel`` files for the VGG-19 tests.

Independent of ``dpt_core.models.vgg_caffe`` (encoding, not decoding); field numbers from
BVLC caffe's ``caffe.proto`` (see that module's docstring). A module of its own: test files
import it, and ``conftest`` is not a unique module name across test folders.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

import numpy as np
import torch

V1_TYPES = {"Convolution": 4, "ReLU": 18}  # V1LayerParameter.LayerType


def varint(value: int) -> bytes:
    """Base-128 varint, least significant group first (150 -> b"\\x96\\x01")."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def len_field(number: int, payload: bytes) -> bytes:
    return key(number, 2) + varint(len(payload)) + payload


def int_field(number: int, value: int) -> bytes:
    return key(number, 0) + varint(value)


def blob(array: np.ndarray, legacy_shape: bool = False, packed: bool = True) -> bytes:
    """A ``BlobProto``: ``shape`` (7) or the legacy num/channels/height/width (1-4), and
    float32 ``data`` (5), packed or one fixed32 field per value."""
    values = np.ascontiguousarray(array, dtype="<f4").ravel()
    if legacy_shape:
        dims = (1,) * (4 - array.ndim) + tuple(array.shape)
        head = b"".join(int_field(n, d) for n, d in zip((1, 2, 3, 4), dims, strict=True))
    else:
        head = len_field(7, len_field(1, b"".join(varint(d) for d in array.shape)))
    if packed:
        return head + len_field(5, values.tobytes())
    return head + b"".join(key(5, 5) + struct.pack("<f", float(v)) for v in values)


def layer(name: str, blobs: Sequence[bytes], v1: bool = False, kind: str = "Convolution") -> bytes:
    """One NetParameter entry: ``layer`` (100, LayerParameter: name 1, type 2, blobs 7) or
    legacy ``layers`` (2, V1LayerParameter: name 4, enum type 5, blobs 6)."""
    if v1:
        body = len_field(4, name.encode()) + int_field(5, V1_TYPES[kind])
        return len_field(2, body + b"".join(len_field(6, b) for b in blobs))
    body = len_field(1, name.encode()) + len_field(2, kind.encode())
    return len_field(100, body + b"".join(len_field(7, b) for b in blobs))


def caffemodel(
    params: Mapping[str, torch.Tensor], v1: bool = False, legacy_shape: bool = False
) -> bytes:
    """A NetParameter with one conv layer per ``NAME.weight`` / ``NAME.bias`` pair of
    ``params`` (Caffe names), a blob-less ReLU after each, and the net's name and input."""
    names = dict.fromkeys(k.rsplit(".", 1)[0] for k in params)
    out = [len_field(1, b"VGG_ILSVRC_19_layers"), len_field(3, b"data")]
    for name in names:
        blobs = [
            blob(params[f"{name}.{kind}"].numpy(), legacy_shape)
            for kind in ("weight", "bias")
            if f"{name}.{kind}" in params
        ]
        out.append(layer(name, blobs, v1))
        out.append(layer(name.replace("conv", "relu"), [], v1, kind="ReLU"))
    return b"".join(out)
