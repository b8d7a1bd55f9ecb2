"""Plan the ``shard-dataset`` stage: which samples go to which shard, with fingerprints.

Samples are sorted by key and packed into consecutive shards of at most ``max_count``
samples and ``max_bytes`` source bytes, so the same inputs and options always give the same
plans; each :class:`ShardPlan` carries the fingerprint of everything that shapes its bytes.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, fields

from dpt_core import storage
from dpt_core.data import manifest
from dpt_core.data.images import NormalizeOptions
from dpt_core.data.layouts import Layout, Rejected, SourceSample, get_layout
from dpt_core.data.shards import shard_name

logger = logging.getLogger(__name__)

SHARD_FORMAT_VERSION = 1
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class ShardConfig:
    """Shard limits and image normalisation; ``max_bytes`` bounds a shard's source bytes."""

    max_count: int = 1000
    max_bytes: int = 1_000_000_000
    normalize: NormalizeOptions = field(default_factory=NormalizeOptions)

    def __post_init__(self) -> None:
        if self.max_count < 1 or self.max_bytes < 1:
            raise ValueError(
                f"max_count and max_bytes must be >= 1, got {self.max_count}, {self.max_bytes}"
            )


@dataclass(frozen=True)
class ShardPlan:
    """One shard to write: its samples (sorted by key), options and input fingerprint."""

    dataset: str
    layout: str
    root_url: str
    index: int
    shard_url: str
    samples: tuple[SourceSample, ...]
    normalize: NormalizeOptions
    fingerprint: str

    @property
    def stem(self) -> str:
        """``NAME-00000``."""
        return self.shard_url.rsplit("/", 1)[-1][: -len(".tar")]


@dataclass(frozen=True)
class ShardResult:
    """A written (or skipped, already committed) shard and the samples it rejected."""

    shard_url: str
    index: int
    count: int
    nbytes: int
    sha256: str
    skipped: bool
    rejected: tuple[Rejected, ...]


@dataclass(frozen=True)
class DatasetPlan:
    """All shards of a dataset plus the inputs rejected while planning (bad/duplicate names)."""

    dataset: str
    layout: str
    src_url: str
    root_url: str
    config: ShardConfig
    shards: tuple[ShardPlan, ...]
    rejected: tuple[Rejected, ...]


@dataclass(frozen=True)
class DatasetSummary:
    """What a run produced: counts, bytes and rejections by reason."""

    dataset: str
    shards: int
    written: int
    rejected: int
    by_reason: dict[str, int]
    nbytes: int
    skipped_shards: int
    stats_url: str


def default_name(src_url: str, layout: str) -> str:
    """Dataset name from the source folder's basename (unsafe characters -> ``_``)."""
    base = src_url.rstrip("/").rsplit("/", 1)[-1].split("://")[-1]
    name = re.sub(r"[^A-Za-z0-9_-]", "_", base).lstrip("_-")
    return name or layout


def check_name(name: str) -> str:
    """ValueError unless ``name`` is a plain dataset name ([A-Za-z0-9][A-Za-z0-9_-]*)."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"name must match [A-Za-z0-9][A-Za-z0-9_-]*, got {name!r}")
    return name


def _dedupe(found: list[SourceSample | Rejected]) -> tuple[list[SourceSample], list[Rejected]]:
    """Samples with unique keys (first by source order wins) and all rejections."""
    first_source: dict[str, str] = {}
    samples, rejected = [], []
    for item in found:
        if isinstance(item, Rejected):
            rejected.append(item)
        elif item.key in first_source:
            detail = f"key {item.key!r} already taken by {first_source[item.key]}"
            rejected.append(Rejected(item.url, "duplicate_key", detail, key=item.key))
        else:
            first_source[item.key] = item.url
            samples.append(item)
    return sorted(samples, key=lambda s: s.key), rejected


def _pack(samples: list[SourceSample], config: ShardConfig) -> list[list[SourceSample]]:
    """Consecutive groups of at most ``max_count`` samples and ``max_bytes`` source bytes."""
    groups: list[list[SourceSample]] = []
    current: list[SourceSample] = []
    current_bytes = 0
    for sample in samples:
        full = len(current) >= config.max_count or current_bytes + sample.size > config.max_bytes
        if current and full:
            groups.append(current)
            current, current_bytes = [], 0
        current.append(sample)
        current_bytes += sample.size
    return [*groups, current] if current else groups


def _fields(samples: list[SourceSample]) -> list[tuple]:
    """The fingerprinted fields of samples (plain tuples hash much faster than dataclasses)."""
    names = [f.name for f in fields(SourceSample)]
    return [tuple(getattr(s, name) for name in names) for s in samples]


def plan_shards(
    layout: str | Layout,
    src_url: str,
    root_url: str,
    name: str | None = None,
    config: ShardConfig | None = None,
    **layout_options: object,
) -> DatasetPlan:
    """Scan ``src_url`` with ``layout`` and assign its samples to shards deterministically.

    Shards land in ``root_url/datasets/NAME/shards/NAME-00000.tar``; the same inputs and
    options always give the same plans and fingerprints.
    """
    if not isinstance(layout, str) and layout_options:
        raise ValueError(f"layout options {sorted(layout_options)} need a layout name")
    layout_obj = get_layout(layout, **layout_options) if isinstance(layout, str) else layout
    config = config or ShardConfig()
    name = check_name(name or default_name(src_url, layout_obj.name))
    if layout_obj.carries_extras and config.normalize.size is not None:
        raise ValueError(
            f"layout {layout_obj.name!r} carries IUV/mask members as-is: resizing (size="
            f"{config.normalize.size}) would misalign them; shard it at its own size"
        )
    samples, rejected = _dedupe(list(layout_obj.scan(src_url)))
    folder = manifest.shards_folder(root_url, name)
    plans = []
    for index, group in enumerate(_pack(samples, config)):
        stem = shard_name(name, index)
        # Everything that shapes the shard's bytes, but not where the dataset root is.
        fp = storage.fingerprint(
            SHARD_FORMAT_VERSION, layout_obj.name, stem, config.normalize, _fields(group)
        )
        shard_url = storage.join(folder, stem + ".tar")
        group_t = tuple(group)
        plans.append(
            ShardPlan(
                name, layout_obj.name, root_url, index, shard_url, group_t, config.normalize, fp
            )
        )
    logger.info(
        "%s: %d samples in %d shards, %d rejected while planning",
        name,
        len(samples),
        len(plans),
        len(rejected),
    )
    return DatasetPlan(
        name, layout_obj.name, src_url, root_url, config, tuple(plans), tuple(rejected)
    )
