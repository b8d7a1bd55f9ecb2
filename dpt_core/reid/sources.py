"""What an augmentation reads: a Market-1501 folder or a sharded data set, with its IUVs.

Two kinds of SRC:

* **a Market-1501 folder** (``bounding_box_train/``, ``bounding_box_test/``, ``query/``): only
  its training images are sharded, into ``WORK/datasets/NAME`` (NAME from SRC's basename), with
  the file stem as key (``0002_c1s1_000451_03``, so a folder of precomputed IUVs named
  ``STEM.iuv.png`` or Detectron-1's ``STEM_IUV.png`` matches); junk (-1) and distractors (0000)
  are left out. Query and gallery images are only listed (their person ids), never read.
* **a sharded data set** ``ROOT/datasets/NAME`` with person ids: the work root is ROOT.

IUVs come from the extract stage into ``ROOT/densepose/NAME/SOURCE`` (a complete existing set
is used as it is). Every image becomes a :class:`SourceRecord`: where its original goes in DST
and under which Market-1501 name.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from dpt_core import storage
from dpt_core.data import shards
from dpt_core.data.layouts.base import (
    Rejected,
    SourceSample,
    image_entries,
    key_or_rejected,
    split_ext,
    walk_files,
)
from dpt_core.data.manifest import read_dataset_manifest, shards_folder, split_dataset_url
from dpt_core.data.planning import ShardConfig, check_name, default_name
from dpt_core.data.stage import shard_dataset
from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.stage import extract_dataset
from dpt_core.reid.market import (
    CAMERAS,
    FOLDERS,
    GALLERY_FOLDER,
    NOT_IDENTITIES,
    QUERY_FOLDER,
    TRAIN_FOLDER,
    format_name,
    parse_name,
    person_code,
)

logger = logging.getLogger(__name__)

MARKET, SHARDS = "market1501", "shards"
SUBSET_FOLDERS = {"train": TRAIN_FOLDER, "gallery": GALLERY_FOLDER, "query": QUERY_FOLDER}


@dataclass(frozen=True)
class SourceSet:
    """A source data set ready to render from: ``ROOT/datasets/DATASET`` and its IUVs."""

    kind: str  # MARKET | SHARDS
    src_url: str
    root_url: str
    dataset: str
    iuv_source: str

    @property
    def iuv_url(self) -> str:
        """``ROOT/densepose/DATASET/SOURCE``."""
        return storage.join(self.root_url, "densepose", self.dataset, self.iuv_source)


@dataclass(frozen=True)
class SourceRecord:
    """One image: data set ``key``, Market ``person`` (PPPP) and data set ``person_id``,
    ``camera`` (1..6), and its original's ``folder`` and file ``name`` in DST."""

    key: str
    person: str
    person_id: str
    camera: int
    folder: str
    name: str


@dataclass(frozen=True)
class MarketTrainLayout:
    """``bounding_box_train/`` of a Market-1501 folder: keys are file stems, no junk."""

    name: str = "market1501-train"
    default_size: tuple[int, int] | None = None
    carries_extras: bool = False

    def scan(self, src_url: str) -> Iterator[SourceSample | Rejected]:
        for entry in image_entries(src_url, TRAIN_FOLDER):
            filename = entry.rel.rsplit("/", 1)[-1]
            parsed = parse_name(filename)
            if parsed is None or entry.rel.count("/") != 1:
                detail = f"{entry.rel!r} is not {TRAIN_FOLDER}/PPPP_cCsS_FFFFFF_NN.jpg"
                yield Rejected(entry.url, "bad_name", detail)
                continue
            if parsed.person in NOT_IDENTITIES:
                continue
            key = key_or_rejected(entry, [split_ext(filename)[0]])
            if isinstance(key, Rejected):
                yield key
                continue
            meta = {"subset": "train", "sequence": parsed.sequence, "frame": parsed.frame,
                    "box": parsed.box}  # fmt: skip
            yield SourceSample(key, entry.url, entry.size, entry.version, parsed.person,
                               camera=parsed.camera, split="train", meta=meta)  # fmt: skip


def source_kind(src_url: str) -> str:
    """MARKET for a folder with a Market-1501 sub-folder, SHARDS for ``ROOT/datasets/NAME``."""
    if any(storage.exists(storage.join(src_url, f)) for f in FOLDERS):
        return MARKET
    if storage.exists(storage.join(src_url, "shards")):
        return SHARDS
    raise FileNotFoundError(
        f"src: {src_url} is neither a Market-1501 folder ({', '.join(FOLDERS)}) nor a sharded "
        "data set (ROOT/datasets/NAME with shards/)"
    )


def _iuv_complete(source: SourceSet) -> bool:
    """Whether every data set shard has a committed IUV shard (whatever its options)."""
    wanted = shards.shard_urls(shards_folder(source.root_url, source.dataset))
    if not storage.exists(source.iuv_url):
        return False
    have = {u.rsplit("/", 1)[-1] for u in shards.shard_urls(source.iuv_url)}
    done = {n for n in have if storage.read_marker(storage.join(source.iuv_url, n)) is not None}
    return {u.rsplit("/", 1)[-1] for u in wanted} <= done


def ingest_source(
    src_url: str, work_root: str, extract: ExtractOptions, max_count: int = 1000, workers: int = 1
) -> SourceSet:
    """Shard (a Market-1501 folder) and extract IUVs (unless complete); both resumable."""
    if source_kind(src_url) == MARKET:
        check_market_tree(src_url)
        name = check_name(default_name(src_url, MARKET))
        config = ShardConfig(max_count=max_count)
        shard_dataset(MarketTrainLayout(), src_url, work_root, name, config, workers)
        source = SourceSet(MARKET, src_url, work_root, name, extract.source)
    else:
        root, name = split_dataset_url(src_url)
        source = SourceSet(SHARDS, src_url, root, name, extract.source)
        if _iuv_complete(source):
            logger.info("%s: IUVs complete, used as they are", source.iuv_url)
            return source
    extract_dataset(source.root_url, source.dataset, extract)
    return source


def _names(src_url: str, folder: str) -> list[str]:
    url = storage.join(src_url, folder)
    if not storage.exists(url):
        return []
    return [e.rel.rsplit("/", 1)[-1] for e in walk_files(src_url, folder)]


def check_market_tree(src_url: str) -> None:
    """ValueError when SRC already holds generated images (the reserved sequence s9)."""
    for folder in FOLDERS:
        generated = [n for n in _names(src_url, folder) if (p := parse_name(n)) and p.generated]
        if generated:
            raise ValueError(
                f"src: {folder}/{generated[0]} uses the sequence s9 reserved for generated "
                "images (is SRC an augmented tree?); augment the original data set"
            )


def market_test_persons(src_url: str) -> set[str]:
    """Person ids of ``query/`` and ``bounding_box_test/`` (junk and distractors left out)."""
    names = [n for f in FOLDERS if f != TRAIN_FOLDER for n in _names(src_url, f)]
    parsed = (parse_name(n) for n in names)
    return {p.person for p in parsed if p is not None and p.person not in NOT_IDENTITIES}


def _market_records(source: SourceSet) -> list[SourceRecord]:
    table = read_dataset_manifest(source.root_url, source.dataset, ["key", "camera", "source"])
    return [
        SourceRecord(key, key.split("_", 1)[0], key.split("_", 1)[0], int(camera), TRAIN_FOLDER,
                     url.rsplit("/", 1)[-1])
        for key, camera, url in zip(*table.to_pydict().values(), strict=True)
    ]  # fmt: skip


def _market_fields(row: dict) -> tuple[str, str] | None:
    """(folder, name) of a row sharded from a Market-1501 folder, None for other rows."""
    meta = json.loads(row["meta"] or "{}")
    folder = SUBSET_FOLDERS.get(meta.get("subset"))
    if folder is None or row["person_id"] is None or row["camera"] is None:
        return None
    try:
        fields = [int(meta[f]) for f in ("sequence", "frame", "box")]
        return folder, format_name(str(row["person_id"]), int(row["camera"]), *fields)
    except (KeyError, TypeError, ValueError):
        return None


def _camera(row: dict) -> int:
    """The row's camera when it is 1..6, else (view mod 6) + 1 for a numeric view, else 1."""
    if row["camera"] in CAMERAS:
        return int(row["camera"])
    view = str(row["view"] or "")
    return int(view) % 6 + 1 if view.isdigit() else 1


def _assigned_records(rows: list[dict]) -> list[SourceRecord]:
    """Market names for a data set not sharded from Market-1501 (see ``dataset_records``)."""
    people = [r for r in rows if r["person_id"] and r["person_id"] not in NOT_IDENTITIES]
    numbers = {p: i + 1 for i, p in enumerate(sorted({r["person_id"] for r in people}))}
    frames: dict[str, int] = {}
    queried: set[str] = set()
    records = []
    for row in people:
        pid, camera = row["person_id"], _camera(row)
        frame = frames[pid] = frames.get(pid, -1) + 1
        folder = TRAIN_FOLDER
        if row["split"] == "test":
            folder = GALLERY_FOLDER if pid in queried else QUERY_FOLDER
            queried.add(pid)
        person = person_code(numbers[pid])
        records.append(SourceRecord(row["key"], person, pid, camera, folder,
                                    format_name(person, camera, 1, frame, 1)))  # fmt: skip
    return records


def dataset_records(source: SourceSet) -> list[SourceRecord]:
    """Records of a sharded data set, in key order.

    Sharded from Market-1501 (every row has the subset, sequence, frame and box): the original
    names and folders. Otherwise names are made up: persons numbered 0001.. in sorted person-id
    order, camera from the row (1..6) or its view (mod 6, + 1), sequence 1, frames counting each
    person's images; the train split goes to ``bounding_box_train/``, a test person's first
    image to ``query/`` and the rest to ``bounding_box_test/``. Rows without a person are left
    out.
    """
    columns = ["key", "person_id", "camera", "view", "split", "meta"]
    rows = read_dataset_manifest(source.root_url, source.dataset, columns).to_pylist()
    rows.sort(key=lambda r: r["key"])
    market = [_market_fields(r) for r in rows]
    if rows and all(m is not None for m in market):
        pairs = zip(rows, market, strict=True)
        records = [SourceRecord(r["key"], r["person_id"], r["person_id"], int(r["camera"]), *m)
                   for r, m in pairs]  # fmt: skip
    else:
        records = _assigned_records(rows)
    generated = next((r.name for r in records if parse_name(r.name).generated), None)
    if generated is not None:
        raise ValueError(f"src: {generated} uses the sequence s9 reserved for generated images")
    return records


def source_records(source: SourceSet) -> tuple[list[SourceRecord], set[str]]:
    """(records of every image that goes to DST's training folder or beyond, test persons).

    For a Market-1501 folder the records are its training identities' images (the rest is
    copied as files); the test persons are the persons of ``query/`` and the gallery.
    """
    if source.kind == MARKET:
        return _market_records(source), market_test_persons(source.src_url)
    records = dataset_records(source)
    tests = {r.person for r in records if r.folder != TRAIN_FOLDER} - NOT_IDENTITIES
    return records, tests


def iuv_coverage(source: SourceSet) -> dict[str, float]:
    """``{image key: fraction of its pixels on the body}`` from the IUV shards' manifests."""
    coverage: dict[str, float] = {}
    for url in shards.shard_urls(source.iuv_url):
        manifest = shards.shard_manifest_url(url)
        if not storage.exists(manifest):
            continue
        table = shards.read_manifest(manifest).select(["key", "image_key", "coverage"])
        for key, image_key, value in zip(*table.to_pydict().values(), strict=True):
            if key == image_key:
                coverage[key] = float(value)
    return coverage
