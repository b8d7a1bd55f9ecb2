"""``market1501``: the Market-1501 person re-identification benchmark.

Folders ``bounding_box_train/`` (split train), ``bounding_box_test/`` (gallery) and ``query/``
(split test); names ``PPPP_cCsS_FFFFFF_NN.jpg`` = person, camera, sequence, frame, box index.
Person -1 (junk boxes) and 0000 (distractors) are kept and flagged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from dpt_core import storage
from dpt_core.data.layouts.base import (
    Rejected,
    SourceSample,
    image_entries,
    key_or_rejected,
    split_ext,
)

SUBSETS = {
    "bounding_box_train": ("train", "train"),
    "bounding_box_test": ("test", "gallery"),
    "query": ("test", "query"),
}  # folder -> (split, subset)
FLAGS = {"-1": "junk", "0000": "distractor"}
_NAME_RE = re.compile(  # ASCII digits only: "\d" alone also matches e.g. Arabic-Indic digits
    r"(?P<person>-1|\d{4})_c(?P<camera>\d)s(?P<sequence>\d)_(?P<frame>\d{6})_(?P<box>\d{2})",
    re.ASCII,
)


def parse_market_name(filename: str) -> dict[str, str] | None:
    """Fields of ``PPPP_cCsS_FFFFFF_NN.jpg`` as strings, or None when the name doesn't parse."""
    match = _NAME_RE.fullmatch(split_ext(filename)[0])
    return match.groupdict() if match else None


@dataclass(frozen=True)
class Market1501Layout:
    """Person id ``PPPP`` (string, e.g. "0002"), camera C; flags "junk"/"distractor"."""

    name: str = "market1501"
    default_size: tuple[int, int] | None = None
    carries_extras: bool = False

    def scan(self, src_url: str) -> Iterator[SourceSample | Rejected]:
        folders = [f for f in SUBSETS if storage.exists(storage.join(src_url, f))]
        if not folders:
            raise FileNotFoundError(f"none of {', '.join(SUBSETS)} found in {src_url}")
        for folder in folders:
            yield from self._scan_folder(src_url, folder)

    def _scan_folder(self, src_url: str, folder: str) -> Iterator[SourceSample | Rejected]:
        split, subset = SUBSETS[folder]
        for entry in image_entries(src_url, folder):
            filename = entry.rel.split("/")[-1]
            fields = parse_market_name(filename)
            if fields is None or entry.rel.count("/") != 1:
                detail = f"{entry.rel!r} is not {folder}/PPPP_cCsS_FFFFFF_NN.jpg"
                yield Rejected(entry.url, "bad_name", detail)
                continue
            key = key_or_rejected(entry, [folder, split_ext(filename)[0]])
            if isinstance(key, Rejected):
                yield key
                continue
            flag = FLAGS.get(fields["person"])
            yield SourceSample(
                key=key,
                url=entry.url,
                size=entry.size,
                version=entry.version,
                person_id=fields["person"],
                camera=int(fields["camera"]),
                split=split,
                flags=(flag,) if flag else (),
                meta={
                    "subset": subset,
                    "sequence": int(fields["sequence"]),
                    "frame": int(fields["frame"]),
                    "box": int(fields["box"]),
                },
            )
