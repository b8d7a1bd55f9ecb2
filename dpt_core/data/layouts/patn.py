"""``patn-pairs``: the pose-transfer community's DeepFashion release (PATN and followers).

SRC holds ``train/`` and ``test/`` image folders, ``fasion-resize-annotation-{split}.csv``
(``name:keypoints_y:keypoints_x``, 18 keypoints, -1 when missing) and
``fasion-resize-pairs-{split}.csv`` (columns ``from,to``). Names flatten the DeepFashion
path: ``img/WOMEN/Dresses/id_00000002/02_1_front.jpg`` ->
``fashionWOMENDressesid0000000202_1front.jpg``.
The correctly spelled ``fashion-`` prefix is accepted too.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dpt_core import storage
from dpt_core.data.layouts.base import (
    Rejected,
    SourceSample,
    image_entries,
    key_or_rejected,
    make_key,
    split_ext,
)

logger = logging.getLogger(__name__)

SPLITS = ("train", "test")
_NAME_RE = re.compile(
    r"^fashion(?P<gender>WOMEN|MEN)(?P<category>.+?)id(?P<id>\d{8})"
    r"(?P<look>\d{2})_(?P<view_index>\d+)(?P<view>[a-z]+)$",
    re.ASCII,  # "\d" alone also matches non-ASCII digits
)


def patn_file(src_url: str, kind: str, split: str) -> str | None:
    """URL of ``fasion-resize-{kind}-{split}.csv`` (or the ``fashion-`` spelling), or None."""
    for prefix in ("fasion", "fashion"):
        url = storage.join(src_url, f"{prefix}-resize-{kind}-{split}.csv")
        if storage.exists(url):
            return url
    return None


def parse_patn_name(filename: str) -> dict[str, Any] | None:
    """Fields of a flattened name (person_id as ``id_XXXXXXXX``), or None if it doesn't parse."""
    match = _NAME_RE.match(split_ext(filename)[0])
    if match is None:
        return None
    fields = match.groupdict()
    return {
        "person_id": f"id_{fields['id']}",
        "gender": fields["gender"],
        "category": fields["category"],
        "look": int(fields["look"]),
        "view_index": int(fields["view_index"]),
        "view": fields["view"],
    }


def _number(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def _keypoints(text: str) -> list[int]:
    values = json.loads(text)
    if not isinstance(values, list) or not all(_number(v) for v in values):
        raise ValueError("keypoints must be a JSON list of finite numbers")
    return [int(v) for v in values]


def read_annotations(url: str) -> tuple[dict[str, tuple[list[int], list[int]]], list[Rejected]]:
    """``{name: (keypoints_y, keypoints_x)}`` from a ``name:keypoints_y:keypoints_x`` file, and
    a ``bad_annotation_line`` rejection (source ``URL:LINE``) for each malformed line."""
    keypoints, rejected = {}, []
    lines = storage.read_bytes(url).decode("utf-8-sig", errors="replace").splitlines()
    for line_no, line in enumerate(lines[1:], start=2):
        fields = line.split(":")
        if not line.strip():
            continue
        try:
            if len(fields) != 3:
                raise ValueError("expected name:keypoints_y:keypoints_x")
            keypoints[fields[0].strip()] = (_keypoints(fields[1]), _keypoints(fields[2]))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            detail = f"{exc}; got {line[:200]!r}"
            rejected.append(Rejected(f"{url}:{line_no}", "bad_annotation_line", detail))
    if rejected:
        logger.warning("%s: %d malformed line(s) skipped", url, len(rejected))
    return keypoints, rejected


def read_pairs_csv(url: str) -> tuple[list[tuple[str, str]], list[Rejected]]:
    """``[(from_name, to_name), ...]`` from a PATN pairs CSV with a ``from,to`` header, and a
    ``bad_pairs_row`` rejection (source ``URL:LINE``) for each row without both names."""
    text = storage.read_bytes(url).decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"from", "to"} <= set(reader.fieldnames):
        raise ValueError(f"{url}: expected a 'from,to' header, got {reader.fieldnames}")
    pairs, rejected = [], []
    for row in reader:
        source, target = (str(row.get(c) or "").strip() for c in ("from", "to"))
        if source and target:
            pairs.append((source, target))
        else:
            detail = f"row needs 'from' and 'to' names, got {row}"[:300]
            rejected.append(Rejected(f"{url}:{reader.line_num}", "bad_pairs_row", detail))
    return pairs, rejected


def patn_key(filename: str) -> str:
    """The sample key of a PATN image name (its stem made safe)."""
    return make_key([split_ext(filename)[0]])


@dataclass(frozen=True)
class PatnPairsLayout:
    """Images of ``train/`` and ``test/``; person, look and view parsed from the names."""

    name: str = "patn-pairs"
    default_size: tuple[int, int] | None = None
    carries_extras: bool = False

    def scan(self, src_url: str) -> Iterator[SourceSample | Rejected]:
        splits = [s for s in SPLITS if storage.exists(storage.join(src_url, s))]
        if not splits:
            raise FileNotFoundError(f"no train/ or test/ image folder in {src_url}")
        for split in splits:
            yield from self._scan_split(src_url, split)

    def _scan_split(self, src_url: str, split: str) -> Iterator[SourceSample | Rejected]:
        annotation_url = patn_file(src_url, "annotation", split)
        keypoints, bad_lines = read_annotations(annotation_url) if annotation_url else ({}, [])
        yield from bad_lines
        if annotation_url is None:
            logger.warning("%s: no annotation file for %s; no keypoints", src_url, split)
        for entry in image_entries(src_url, split):
            filename = entry.rel.split("/", 1)[1]
            key = key_or_rejected(entry, [split_ext(filename)[0]])
            if isinstance(key, Rejected):
                yield key
                continue
            fields = parse_patn_name(filename) or {}
            meta = {k: v for k, v in fields.items() if k not in ("person_id", "view")}
            if filename in keypoints:
                meta["keypoints_y"], meta["keypoints_x"] = keypoints[filename]
            yield SourceSample(
                key=key,
                url=entry.url,
                size=entry.size,
                version=entry.version,
                person_id=fields.get("person_id"),
                view=fields.get("view"),
                split=split,
                meta=meta,
            )
