"""The originals in DST: a Market-1501 tree copied byte for byte, or shard images named.

Market-1501 SRC: every file of ``bounding_box_train/``, ``bounding_box_test/`` and ``query/``
is copied as it is (junk, distractors and any other file included). Sharded SRC: each record's
image is written under its Market-1501 name and folder (``sources.dataset_records``), a JPEG as
stored, any other format re-encoded as JPEG. Either way a file already in DST with the bytes'
size is kept, so a re-run writes nothing; all three folders exist afterwards, as loaders expect.
"""

from __future__ import annotations

import logging
import shutil

from dpt_core import storage
from dpt_core.data import shards
from dpt_core.data.layouts.base import walk_files
from dpt_core.data.manifest import shards_folder
from dpt_core.densepose.extractors import decode_image_rgb
from dpt_core.reid.crop import encode_jpeg
from dpt_core.reid.market import FOLDERS
from dpt_core.reid.sources import MARKET, SourceRecord, SourceSet

logger = logging.getLogger(__name__)


def sizes(root_url: str, folder: str) -> dict[str, int]:
    """``{"FOLDER/NAME": size}`` of the files below ``root_url/folder`` ({} when absent)."""
    if not storage.exists(storage.join(root_url, folder)):
        return {}
    return {e.rel: e.size for e in walk_files(root_url, folder)}


def copy_market_tree(src_url: str, dst_url: str) -> dict[str, int]:
    """Copy the three Market-1501 folders of ``src_url``; ``{"written": n, "kept": m}``."""
    counts = {"written": 0, "kept": 0}
    for folder in FOLDERS:
        storage.makedirs(storage.join(dst_url, folder))
        if not storage.exists(storage.join(src_url, folder)):
            continue
        have = sizes(dst_url, folder)
        for entry in walk_files(src_url, folder):
            if have.get(entry.rel) == entry.size:
                counts["kept"] += 1
                continue
            dst = storage.join(dst_url, entry.rel)
            with storage.open_read(entry.url) as source, storage.open_atomic(dst) as sink:
                shutil.copyfileobj(source, sink, 1 << 22)
            counts["written"] += 1
    logger.info("%s: %d originals copied, %d already there", dst_url, *counts.values())
    return counts


def _jpeg(sample: dict, quality: int) -> bytes:
    if "jpg" in sample:
        return bytes(sample["jpg"])
    data = next((sample[e] for e in ("png", "jpeg") if e in sample), None)
    if data is None:
        raise ValueError(f"{sample['__key__']}: no image member (jpg/png)")
    return encode_jpeg(decode_image_rgb(bytes(data)), quality)


def write_dataset_originals(
    source: SourceSet, records: list[SourceRecord], dst_url: str, quality: int = 95
) -> dict[str, int]:
    """Write every record's image to ``dst_url/FOLDER/NAME``; ``{"written": n, "kept": m}``."""
    by_key = {r.key: r for r in records}
    have = {rel: size for f in FOLDERS for rel, size in sizes(dst_url, f).items()}
    counts = {"written": 0, "kept": 0}
    for folder in FOLDERS:
        storage.makedirs(storage.join(dst_url, folder))
    for url in shards.shard_urls(shards_folder(source.root_url, source.dataset)):
        for sample in shards.iter_shard(url):
            record = by_key.get(str(sample["__key__"]))
            if record is None:
                continue
            data, rel = _jpeg(sample, quality), f"{record.folder}/{record.name}"
            if have.get(rel) == len(data):
                counts["kept"] += 1
                continue
            storage.write_bytes(storage.join(dst_url, rel), data)
            counts["written"] += 1
    logger.info("%s: %d originals written, %d already there", dst_url, *counts.values())
    return counts


def write_originals(source: SourceSet, records: list[SourceRecord], dst_url: str,
                    quality: int = 95) -> dict[str, int]:  # fmt: skip
    """The originals of ``source`` in DST, whichever kind it is."""
    if source.kind == MARKET:
        return copy_market_tree(source.src_url, dst_url)
    return write_dataset_originals(source, records, dst_url, quality)
