"""The typed settings of one re-id augmentation (``dpt reid-augment``, flow ``augment-reid``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dpt_core import storage
from dpt_core.densepose.options import DEFAULT_CONFIG, SOURCES, ExtractOptions
from dpt_core.reid.bank import same_location
from dpt_core.reid.market import MAX_INDEX

MARKET_HW = (128, 64)
WORK_FOLDER = "_work"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class AugmentConfig:
    """Everything an augmentation depends on.

    ``src``: a Market-1501 folder or ``ROOT/datasets/NAME``; ``dst``: the Market-1501 folder
    to write; ``pose_bank``: an IUV shard folder or a studio data set (``dpt_core.reid.bank``);
    ``checkpoint``: a trained generator (``.pt`` or run folder), required; ``per_identity``:
    K generated images per training identity. ``work``: where shards, IUVs, renders and the
    plan go (default ``DST/_work``; a sharded SRC's own root, which ``work`` may only repeat).
    ``iuv_source`` / ``weights`` / ``precomputed_url`` / ``densepose_config``: how the source
    images get their IUV (the extract stage, one person per image: the largest). ``size``:
    output (height, width), 128 × 64 as Market-1501; ``margin``: crop margin around the
    target body (fraction of its size).
    """

    src: str
    dst: str
    pose_bank: str
    checkpoint: str | None
    per_identity: int = 4
    work: str | None = None
    name: str | None = None
    iuv_source: str = "detectron2"
    weights: str | None = None
    precomputed_url: str | None = None
    densepose_config: str = DEFAULT_CONFIG
    allow_pickle: bool = False
    sources_per_identity: int = 3
    identities_per_shard: int = 64
    seed: int = 0
    size: tuple[int, int] = MARKET_HW
    margin: float = 0.1
    jpeg_quality: int = 95
    batch_size: int = 8
    device: str = "cpu"
    max_count: int = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", tuple(int(v) for v in self.size))
        if not self.checkpoint:
            raise ValueError(
                "checkpoint: required: the trained generator (.pt file or run folder) that "
                "renders the new poses; nothing is generated without one"
            )
        for arg in ("src", "dst", "pose_bank"):
            if not isinstance(getattr(self, arg), str) or not getattr(self, arg).strip():
                raise ValueError(f"{arg}: expected a path or URL, got {getattr(self, arg)!r}")
        if same_location(self.src, self.dst):
            raise ValueError(f"dst: must differ from src ({self.src}); SRC is never modified")
        self._check_ranges()
        if self.iuv_source not in SOURCES:
            raise ValueError(f"iuv_source: expected one of {SOURCES}, got {self.iuv_source!r}")
        if self.name is not None and not _NAME.match(self.name):
            raise ValueError(f"name: expected [A-Za-z0-9][A-Za-z0-9_-]*, got {self.name!r}")

    def _check_ranges(self) -> None:
        bounds = {"per_identity": (1, MAX_INDEX + 1), "sources_per_identity": (1, None),
                  "identities_per_shard": (1, None), "jpeg_quality": (1, 100),
                  "batch_size": (1, None), "max_count": (1, None)}  # fmt: skip
        for arg, (low, high) in bounds.items():
            value = getattr(self, arg)
            if value < low or (high is not None and value > high):
                raise ValueError(f"{arg}: expected {low}..{high or ''}, got {value}")
        if len(self.size) != 2 or min(self.size) < 8:
            raise ValueError(f"size: expected (height, width) >= 8, got {self.size}")
        if self.margin < 0:
            raise ValueError(f"margin: expected >= 0, got {self.margin}")

    def extract_options(self) -> ExtractOptions:
        """Extract-stage options for the source images (ValueError when weights etc. miss)."""
        return ExtractOptions(
            source=self.iuv_source, mode="largest", config=self.densepose_config,
            weights=self.weights, allow_pickle=self.allow_pickle, device=self.device,
            batch_size=self.batch_size, precomputed_url=self.precomputed_url,
        )  # fmt: skip

    def market_work_root(self) -> str:
        """The work root for a Market-1501 SRC: ``work`` or ``DST/_work``."""
        return self.work or storage.join(self.dst, WORK_FOLDER)

    def check_work_root(self, root_url: str) -> None:
        """ValueError when ``work`` is given but is not a sharded SRC's own root."""
        if self.work is not None and not same_location(self.work, root_url):
            raise ValueError(
                f"work: a sharded SRC is rendered in its own root {root_url}; got {self.work}"
            )
