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
    r"(?P<look>\d{2})_(?P<view_index>\d+)(?P<view>[a-z]+)$"
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


def read_annotations(url: str) -> dict[str, tuple[list[int], list[int]]]:
    """``{name: (keypoints_y, keypoints_x)}`` from a ``name:keypoints_y:keypoints_x`` file."""
    keypoints = {}
    lines = storage.read_bytes(url).decode("utf-8").splitlines()
    for line_no, line in enumerate(lines[1:], start=2):
        fields = line.split(":")
        if len(fields) != 3:
            if line.strip():
                raise ValueError(f"{url}:{line_no}: expected name:keypoints_y:keypoints_x")
            continue
        try:
            ys, xs = json.loads(fields[1]), json.loads(fields[2])
        except json.JSONDecodeError as exc:
            raise ValueError(f"{url}:{line_no}: keypoints are not lists: {exc}") from exc
        keypoints[fields[0].strip()] = ([int(y) for y in ys], [int(x) for x in xs])
    return keypoints


def read_pairs_csv(url: str) -> list[tuple[str, str]]:
    """``[(from_name, to_name), ...]`` from a PATN pairs CSV with a ``from,to`` header."""
    reader = csv.DictReader(io.StringIO(storage.read_bytes(url).decode("utf-8")))
    if reader.fieldnames is None or not {"from", "to"} <= set(reader.fieldnames):
        raise ValueError(f"{url}: expected a 'from,to' header, got {reader.fieldnames}")
    return [(row["from"].strip(), row["to"].strip()) for row in reader]


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
        keypoints = read_annotations(annotation_url) if annotation_url else {}
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
