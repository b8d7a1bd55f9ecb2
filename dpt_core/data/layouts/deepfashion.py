"""``deepfashion-inshop``: DeepFashion In-shop Clothes Retrieval.

Images at ``img/<GENDER>/<CATEGORY>/id_XXXXXXXX/NN_V_view.jpg`` and the split file
``list_eval_partition.txt`` (in SRC or SRC/Eval): a count line, a header line, then
``image_name item_id evaluation_status`` rows with status train, query or gallery.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

from dpt_core import storage
from dpt_core.data.layouts.base import Rejected, SourceSample, image_entries, key_or_rejected

logger = logging.getLogger(__name__)

PARTITION_FILE = "list_eval_partition.txt"
SPLIT_OF_STATUS = {"train": "train", "query": "test", "gallery": "test"}
_NAME_RE = re.compile(
    r"^img/(?P<gender>[A-Z]+)/(?P<category>[^/]+)/(?P<person>id_\d{8})/"
    r"(?P<look>\d+)_(?P<view_index>\d+)_(?P<view>[A-Za-z]+)\.jpe?g$",
    re.ASCII,  # "\d" alone also matches non-ASCII digits
)


def read_partition(src_url: str) -> tuple[dict[str, str], list[Rejected]]:
    """``{"img/...jpg": status}`` from SRC/list_eval_partition.txt or SRC/Eval/..., and a
    ``bad_partition_line`` rejection (source ``URL:LINE``) for each malformed line."""
    candidates = [
        storage.join(src_url, PARTITION_FILE),
        storage.join(src_url, "Eval", PARTITION_FILE),
    ]
    for url in candidates:
        if storage.exists(url):
            text = storage.read_bytes(url).decode("utf-8-sig", errors="replace")
            return _parse_partition(url, text)
    raise FileNotFoundError(f"DeepFashion split file not found: {' or '.join(candidates)}")


def _parse_partition(url: str, text: str) -> tuple[dict[str, str], list[Rejected]]:
    statuses, rejected = {}, []
    for line_no, line in enumerate(text.splitlines()[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or fields[2] not in SPLIT_OF_STATUS:
            detail = f"expected 'image_name item_id status', got {line[:200]!r}"
            rejected.append(Rejected(f"{url}:{line_no}", "bad_partition_line", detail))
            continue
        statuses[fields[0]] = fields[2]
    if rejected:
        logger.warning("%s: %d malformed line(s) skipped", url, len(rejected))
    return statuses, rejected


@dataclass(frozen=True)
class DeepFashionInShopLayout:
    """Person id from ``id_XXXXXXXX``, view and look from ``NN_V_view``; 256x256 by default."""

    name: str = "deepfashion-inshop"
    default_size: tuple[int, int] | None = (256, 256)
    carries_extras: bool = False

    def scan(self, src_url: str) -> Iterator[SourceSample | Rejected]:
        statuses, bad_lines = read_partition(src_url)
        yield from bad_lines
        for entry in image_entries(src_url, "img"):
            match = _NAME_RE.match(entry.rel)
            if match is None:
                detail = f"{entry.rel!r} is not img/GENDER/CATEGORY/id_XXXXXXXX/NN_V_view.jpg"
                yield Rejected(entry.url, "bad_name", detail)
                continue
            fields = match.groupdict()
            key = key_or_rejected(entry, entry.rel[len("img/") :].rsplit(".", 1)[0].split("/"))
            if isinstance(key, Rejected):
                yield key
                continue
            status = statuses.get(entry.rel)
            yield SourceSample(
                key=key,
                url=entry.url,
                size=entry.size,
                version=entry.version,
                person_id=fields["person"],
                view=fields["view"],
                split=SPLIT_OF_STATUS.get(status or ""),
                meta={
                    "gender": fields["gender"],
                    "category": fields["category"],
                    "look": int(fields["look"]),
                    "view_index": int(fields["view_index"]),
                    "eval_status": status,
                },
            )
