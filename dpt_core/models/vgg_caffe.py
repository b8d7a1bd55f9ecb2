"""Caffe ``.caffemodel`` reader: layer names and parameter blobs, without caffe or protobuf.

A ``.caffemodel`` is a binary protobuf ``NetParameter``. Only the fields weight loading needs
are read (numbers from BVLC caffe's ``src/caffe/proto/caffe.proto``); everything else is skipped:

* ``NetParameter``: ``layer = 100`` (``LayerParameter``), legacy ``layers = 2``
  (``V1LayerParameter``);
* ``LayerParameter``: ``name = 1``, ``blobs = 7``; ``V1LayerParameter``: ``name = 4``,
  ``blobs = 6``, ``layer = 1`` (an older ``V0LayerParameter``: ``name = 1``, ``blobs = 50``);
* ``BlobProto``: deprecated 4-D shape ``num = 1, channels = 2, height = 3, width = 4``,
  ``data = 5`` (float32, packed or not), ``shape = 7`` (``BlobShape``: ``dim = 1``, int64),
  ``double_data = 8``.

The Oxford VGG release (``VGG_ILSVRC_19_layers.caffemodel``) uses the legacy ``layers`` field.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

import numpy as np

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
Field = tuple[int, int, int | memoryview]


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """(value, next position) of the base-128 varint at ``pos``."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def iter_fields(buf: memoryview) -> Iterator[Field]:
    """(field number, wire type, value) of each field of one message, in order.

    Varints come as ints; length-delimited, fixed32 and fixed64 values as memoryviews (no copy).
    """
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
            yield number, wire, value
            continue
        if wire == _LEN:
            size, pos = _varint(buf, pos)
        elif wire in (_FIXED32, _FIXED64):
            size = 4 if wire == _FIXED32 else 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} at byte {pos}")
        if number == 0 or pos + size > len(buf):
            raise ValueError(f"malformed protobuf field {number} at byte {pos}")
        yield number, wire, buf[pos : pos + size]
        pos += size


def _packed_varints(value: int | memoryview) -> list[int]:
    if isinstance(value, int):
        return [value]
    out, pos = [], 0
    while pos < len(value):
        item, pos = _varint(value, pos)
        out.append(item)
    return out


def parse_blob(buf: memoryview) -> np.ndarray:
    """A ``BlobProto`` as a float32 array of its shape (``shape``, else the legacy 4-D one)."""
    legacy: dict[int, int] = {}
    dims: list[int] | None = None
    floats: list[np.ndarray] = []
    for number, wire, value in iter_fields(buf):
        if number in (1, 2, 3, 4) and wire == _VARINT:
            legacy[number] = int(value)
        elif number == 5 and wire in (_LEN, _FIXED32):
            floats.append(np.frombuffer(value, dtype="<f4"))
        elif number == 8 and wire in (_LEN, _FIXED64):
            floats.append(np.frombuffer(value, dtype="<f8").astype(np.float32))
        elif number == 7 and wire == _LEN:
            dims = [d for n, _, v in iter_fields(value) if n == 1 for d in _packed_varints(v)]
    data = np.concatenate(floats) if floats else np.zeros(0, np.float32)
    if dims is None:
        dims = [legacy.get(k, 0) for k in (1, 2, 3, 4)] if legacy else [data.size]
    if int(np.prod(dims)) != data.size:
        raise ValueError(f"blob of shape {tuple(dims)} holds {data.size} values")
    return data.astype(np.float32, copy=False).reshape(dims)


def _layer(buf: memoryview, name_field: int, blobs_field: int) -> tuple[str, list[memoryview]]:
    name, blobs = "", []
    for number, wire, value in iter_fields(buf):
        if wire != _LEN:
            continue
        if number == name_field:
            name = bytes(value).decode("utf-8")
        elif number == blobs_field:
            blobs.append(value)
        elif name_field == 4 and number == 1 and not (name or blobs):  # V1 wrapping a V0 layer
            name, blobs = _layer(value, 1, 50)
    return name, blobs


def read_caffemodel(
    data: bytes, wanted: Collection[str] | None = None
) -> dict[str, list[np.ndarray]]:
    """``{layer name: [blob arrays]}`` of the layers with blobs (only ``wanted`` ones decoded).

    Raises ValueError when ``data`` is not a protobuf message, a layer appears twice, or no
    layer has blobs.
    """
    layers: dict[str, list[np.ndarray]] = {}
    seen: set[str] = set()
    for number, wire, value in iter_fields(memoryview(data)):
        if wire != _LEN or number not in (100, 2):
            continue
        name, blobs = _layer(value, 1, 7) if number == 100 else _layer(value, 4, 6)
        if not blobs:
            continue
        if name in seen:
            raise ValueError(f"layer {name!r} appears twice")
        seen.add(name)
        if wanted is None or name in wanted:
            try:
                layers[name] = [parse_blob(blob) for blob in blobs]
            except ValueError as exc:
                raise ValueError(f"layer {name!r}: {exc}") from None
    if not seen:
        raise ValueError("no layer with weights (not a Caffe NetParameter?)")
    return layers
