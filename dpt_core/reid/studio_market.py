"""A Market-1501 tree rendered by the studio: a re-id benchmark with exact identities and IUVs.

Studio identity ``i`` of seed ``S`` is person ``i + 1`` (``0001``...). Identities ``0..T-1``
are training persons (``bounding_box_train/``); ``T..T+Q-1`` are test persons: pose 0 of every
view goes to ``query/``, their other poses to ``bounding_box_test/``, so each query has true
matches from other cameras and junk (same person, same camera) to be removed. Camera = view
+ 1 (at most 6 views), sequence 1, frame = 100 · pose + view, box 01.

Each image is rendered in a square frame with its own background and light (scene mode
``"random"``, so a background never names a person), then cropped like a detector box: the
body's box (hair and loose clothes included), moved and scaled by up to ``jitter`` of its
size, grown by ``margin``, widened to the output aspect and resized (``dpt_core.reid.crop``).
Each training image's IUV, cropped the same way (nearest), goes to ``IUV/STEM.iuv.png`` for
``dpt reid-augment --iuv-source precomputed``.

``extra_pose_items`` names the training persons in new poses (sequence ``s8``): the
*oracle* augmentation a perfect generator would give, to tell render quality from the idea.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow.parquet as pq

from dpt_core import storage
from dpt_core.iuv import encode_iuv_png
from dpt_core.reid.crop import crop_box, crop_resize, encode_jpeg
from dpt_core.reid.market import (
    FOLDERS,
    GALLERY_FOLDER,
    QUERY_FOLDER,
    TRAIN_FOLDER,
    format_name,
    parse_name,
    person_code,
)
from dpt_core.reid.sources import market_test_persons
from dpt_core.studio import make_identity, make_scene, render_scenes

logger = logging.getLogger(__name__)

ORIGINAL_SEQUENCE, ORACLE_SEQUENCE = 1, 8
INFO_NAME = "studio_market.json"
BATCH = 32


@dataclass(frozen=True)
class StudioMarketSpec:
    """How many persons, poses and views (= cameras); render frame, output size and crop."""

    train_identities: int = 48
    test_identities: int = 32
    poses: int = 3
    views: int = 4
    seed: int = 18
    frame: int = 160
    size: tuple[int, int] = (128, 64)
    margin: float = 0.1
    jitter: float = 0.05
    jpeg_quality: int = 95

    def __post_init__(self) -> None:
        for name in ("train_identities", "test_identities", "poses", "views", "frame"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected >= 1, got {getattr(self, name)}")
        if not 1 <= self.views <= 6:
            raise ValueError(f"views: Market-1501 has cameras 1..6, got {self.views} views")
        if self.test_identities and self.poses < 2:
            raise ValueError("poses: test persons need >= 2 poses (query pose 0, gallery rest)")
        if not (0 <= self.jitter < 0.5 and self.margin >= 0):
            raise ValueError(
                f"jitter in [0, 0.5) and margin >= 0, got {self.jitter}, {self.margin}"
            )

    @property
    def identities(self) -> int:
        return self.train_identities + self.test_identities


@dataclass(frozen=True)
class MarketItem:
    """One image to render: studio identity, pose and view; its folder and sequence."""

    identity: int
    pose: int
    view: int
    folder: str
    sequence: int = ORIGINAL_SEQUENCE

    @property
    def person(self) -> str:
        return person_code(self.identity + 1)

    @property
    def name(self) -> str:
        """``PPPP_cCsS_FFFFFF_01.jpg`` with camera = view + 1, frame = 100 · pose + view."""
        return format_name(self.person, self.view + 1, self.sequence,
                           100 * self.pose + self.view, 1)  # fmt: skip


def split_persons(spec: StudioMarketSpec) -> tuple[set[str], set[str]]:
    """(training persons, test persons) of ``spec``."""
    train = {person_code(i + 1) for i in range(spec.train_identities)}
    test = {person_code(i + 1) for i in range(spec.train_identities, spec.identities)}
    return train, test


def check_split(train_persons: set[str], test_persons: set[str]) -> None:
    """ValueError when the split is empty on either side or a person is on both sides."""
    if not train_persons or not test_persons:
        raise ValueError(f"split: {len(train_persons)} training and {len(test_persons)} test "
                         "persons; both must be non-empty")  # fmt: skip
    shared = sorted(train_persons & test_persons)
    if shared:
        raise ValueError(f"split: persons {shared[:5]} are both training and test persons")


def market_items(spec: StudioMarketSpec) -> list[MarketItem]:
    """Every original image of the tree (see the module docstring), in identity order."""
    items = []
    for i in range(spec.identities):
        for pose in range(spec.poses):
            for view in range(spec.views):
                folder = TRAIN_FOLDER
                if i >= spec.train_identities:
                    folder = QUERY_FOLDER if pose == 0 else GALLERY_FOLDER
                items.append(MarketItem(i, pose, view, folder))
    return items


def extra_pose_items(spec: StudioMarketSpec, per_identity: int) -> list[MarketItem]:
    """``per_identity`` new poses (indices ``poses..``) of every training person, views in
    turn: sequence s8 images for ``bounding_box_train/`` (the oracle augmentation)."""
    return [MarketItem(i, spec.poses + j, j % spec.views, TRAIN_FOLDER, ORACLE_SEQUENCE)
            for i in range(spec.train_identities) for j in range(per_identity)]  # fmt: skip


def detector_box(mask_hw: np.ndarray, rng: np.random.Generator, jitter: float) -> tuple:
    """The mask's box (x0, y0, x1, y1), moved and scaled by up to ``jitter`` of its size."""
    ys, xs = np.nonzero(mask_hw)
    if xs.size == 0:
        return (0.0, 0.0, 0.0, 0.0)
    x0, y0, x1, y1 = float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)
    w, h = x1 - x0, y1 - y0
    dx, dy, ds = rng.uniform(-jitter, jitter, 3)
    cx, cy, scale = (x0 + x1) / 2 + dx * w, (y0 + y1) / 2 + dy * h, 1.0 + ds
    return (cx - w * scale / 2, cy - h * scale / 2, cx + w * scale / 2, cy + h * scale / 2)


def _write_batch(spec, items, batch, tree_url: str, iuv_url: str | None) -> None:
    for b, item in enumerate(items):
        rng = np.random.default_rng([spec.seed, 18, item.identity, item.pose, item.view])
        body = detector_box(batch.mask[b, 0].numpy(), rng, spec.jitter)
        box = crop_box(body, spec.size, spec.margin, spec.frame)
        rgb = crop_resize(batch.rgb[b].permute(1, 2, 0).numpy(), box, spec.size)
        jpeg = encode_jpeg(rgb, spec.jpeg_quality)
        storage.write_bytes(storage.join(tree_url, item.folder, item.name), jpeg)
        if iuv_url is not None and item.folder == TRAIN_FOLDER:
            iuv = crop_resize(batch.iuv[b].permute(1, 2, 0).numpy(), box, spec.size, True)
            stem = item.name.rsplit(".", 1)[0]
            storage.write_bytes(storage.join(iuv_url, f"{stem}.iuv.png"), encode_iuv_png(iuv))


def render_items(
    spec: StudioMarketSpec,
    items: Sequence[MarketItem],
    tree_url: str,
    iuv_url: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Render, crop and write ``items`` under ``tree_url`` (IUVs of training images to
    ``iuv_url``); ``progress(n)`` after each batch of n images."""
    textures: dict = {}
    identities: dict[int, object] = {}
    for start in range(0, len(items), BATCH):
        chunk = items[start : start + BATCH]
        scenes = []
        for item in chunk:
            ident = identities.setdefault(item.identity, make_identity(item.identity, spec.seed))
            scenes.append(make_scene(ident, item.pose, item.view, spec.views, "random"))
        batch = render_scenes(scenes, spec.frame, textures=textures)
        _write_batch(spec, chunk, batch, tree_url, iuv_url)
        if len(textures) > 2 * BATCH:
            textures.clear()
        if progress is not None:
            progress(len(chunk))


def build_studio_market(
    spec: StudioMarketSpec,
    tree_url: str,
    iuv_url: str,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Write the tree and the training IUVs; returns (and writes as ``INFO_NAME``) a summary."""
    train, test = split_persons(spec)
    check_split(train, test)
    for folder in FOLDERS:
        storage.makedirs(storage.join(tree_url, folder))
    items = market_items(spec)
    render_items(spec, items, tree_url, iuv_url, progress)
    counts = {f: sum(i.folder == f for i in items) for f in FOLDERS}
    info = {"spec": asdict(spec), "train_persons": len(train), "test_persons": len(test),
            "images": counts}  # fmt: skip
    storage.write_bytes(storage.join(tree_url, INFO_NAME), json.dumps(info, indent=1).encode())
    logger.info("%s: %s images of %d + %d persons", tree_url, counts, len(train), len(test))
    return info


def check_generation_sources(dst_url: str, manifest_name: str = "augment_manifest.parquet") -> int:
    """ValueError when an augmented tree generated any image from (or of) a query or gallery
    person; returns the number of generated images checked."""
    with storage.open_read(storage.join(dst_url, manifest_name)) as stream:
        rows = pq.read_table(stream, columns=["name", "person", "source_name"]).to_pylist()
    tests = market_test_persons(dst_url)
    for row in rows:
        source = parse_name(row["source_name"])
        persons = {row["person"], parse_name(row["name"]).person, source and source.person}
        leaked = persons & tests
        if leaked or not row["source_name"].startswith(f"{TRAIN_FOLDER}/"):
            raise ValueError(
                f"generation source: {row['name']} comes from {row['source_name']}; test "
                f"persons {sorted(leaked)} (query/gallery) must never be a source"
            )
    return len(rows)
