"""Plan the ``shard-dataset`` stage: which samples go to which shard, with fingerprints.

Samples are sorted by key and packed into consecutive shards of at most ``max_count``
samples and ``max_bytes`` source bytes, so the same inputs and options always give the same
plans; each :class:`ShardPlan` carries the fingerprint of everything that shapes its bytes.

The plan is streamed, never held: samples are sorted and deduplicated in bounded memory and
written to a plan file, one Parquet row group per shard (:mod:`dpt_core.data.plan_store`);
a :class:`ShardPlan` names its row group and reads only that (:attr:`ShardPlan.samples`).
The plan file is a private local temp file unless ``plan_url`` puts it on shared storage
(the flow's tasks may run on other machines); :func:`release_plan` removes it.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import re
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields

from dpt_core import storage
from dpt_core.data import manifest
from dpt_core.data.images import NormalizeOptions
from dpt_core.data.layouts import Layout, Rejected, SourceSample, get_layout
from dpt_core.data.plan_store import PlanWriter, read_plan_group, sorted_unique
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
    """One shard to write: where its samples are (row group ``index`` of the plan file at
    ``plan_url``, ``count`` of them, sorted by key), options and input fingerprint."""

    dataset: str
    layout: str
    root_url: str
    index: int
    shard_url: str
    plan_url: str
    count: int
    normalize: NormalizeOptions
    fingerprint: str

    @property
    def stem(self) -> str:
        """``NAME-00000``."""
        return self.shard_url.rsplit("/", 1)[-1][: -len(".tar")]

    @property
    def samples(self) -> tuple[SourceSample, ...]:
        """This shard's samples, read from its row group of the plan file (only that one).

        ValueError when they are not the planned ones (the plan file was replaced).
        """
        samples = read_plan_group(self.plan_url, self.index)
        if shard_fingerprint(self.layout, self.stem, self.normalize, samples) != self.fingerprint:
            raise ValueError(
                f"{storage.redact(self.plan_url)}: row group {self.index} no longer holds the "
                f"planned samples of {self.stem} (the plan file was replaced); plan again"
            )
        return samples


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
    plan_url: str
    scratch_url: str | None = field(default=None, compare=False, repr=False)


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


def _pack(samples: Iterable[SourceSample], config: ShardConfig) -> Iterator[list[SourceSample]]:
    """Consecutive groups of at most ``max_count`` samples and ``max_bytes`` source bytes."""
    current: list[SourceSample] = []
    current_bytes = 0
    for sample in samples:
        full = len(current) >= config.max_count or current_bytes + sample.size > config.max_bytes
        if current and full:
            yield current
            current, current_bytes = [], 0
        current.append(sample)
        current_bytes += sample.size
    if current:
        yield current


def _fields(samples: Iterable[SourceSample]) -> list[tuple]:
    """The fingerprinted fields of samples (plain tuples hash much faster than dataclasses)."""
    names = [f.name for f in fields(SourceSample)]
    return [tuple(getattr(s, name) for name in names) for s in samples]


def shard_fingerprint(
    layout: str, stem: str, normalize: NormalizeOptions, samples: Iterable[SourceSample]
) -> str:
    """Everything that shapes a shard's bytes, but not where the dataset root is."""
    return storage.fingerprint(SHARD_FORMAT_VERSION, layout, stem, normalize, _fields(samples))


def shared_plan_url(root_url: str, name: str) -> str:
    """A new plan file URL on the data set's storage, for shard writers on other machines:
    ``ROOT/datasets/NAME/_plans/UUID.parquet``."""
    return storage.join(
        manifest.dataset_url(root_url, name), "_plans", f"{uuid.uuid4().hex}.parquet"
    )


_SCRATCH: set[str] = set()  # local temp folders of this process's plans, removed at exit


def _new_scratch() -> str:
    folder = tempfile.mkdtemp(prefix="dpt-plan-")
    _SCRATCH.add(folder)
    return folder


def _remove_folder(folder: str) -> None:
    fs, path = storage.url_to_fs(folder)
    if fs.exists(path):
        fs.rm(path, recursive=True)
    _SCRATCH.discard(folder)


@atexit.register
def _remove_all_scratch() -> None:
    for folder in list(_SCRATCH):
        _remove_folder(folder)


def release_plan(plan: DatasetPlan) -> None:
    """Remove the plan file of ``plan`` (and its local temp folder); its shards' samples can
    no longer be read afterwards."""
    fs, path = storage.url_to_fs(plan.plan_url)
    if fs.exists(path):
        fs.rm_file(path)
    if plan.scratch_url is not None:
        _remove_folder(plan.scratch_url)


def _write_plan(
    layout: Layout, src_url: str, plan: DatasetPlan, scratch_url: str
) -> tuple[list[ShardPlan], list[Rejected]]:
    """Scan, sort, deduplicate and pack; each shard's samples go to the plan file."""
    samples, rejected = sorted_unique(layout.scan(src_url), scratch_url)
    folder = manifest.shards_folder(plan.root_url, plan.dataset)
    normalize = plan.config.normalize
    shards = []
    with PlanWriter(plan.plan_url) as writer:
        for group in _pack(samples, plan.config):
            index = writer.add_group(group)
            stem = shard_name(plan.dataset, index)
            fp = shard_fingerprint(layout.name, stem, normalize, group)
            shard_url = storage.join(folder, stem + ".tar")
            shards.append(ShardPlan(plan.dataset, layout.name, plan.root_url, index, shard_url,
                                    plan.plan_url, len(group), normalize, fp))  # fmt: skip
    return shards, rejected


def plan_shards(
    layout: str | Layout,
    src_url: str,
    root_url: str,
    name: str | None = None,
    config: ShardConfig | None = None,
    plan_url: str | None = None,
    **layout_options: object,
) -> DatasetPlan:
    """Scan ``src_url`` with ``layout`` and assign its samples to shards deterministically.

    Shards land in ``root_url/datasets/NAME/shards/NAME-00000.tar``; the same inputs and
    options always give the same plans and fingerprints. The samples go to a plan file at
    ``plan_url`` (default: a local temp file of this process; :func:`shared_plan_url` for
    shard writers on other machines), removed by :func:`release_plan`.
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
    scratch = _new_scratch()
    owned = plan_url is None
    plan = DatasetPlan(name, layout_obj.name, src_url, root_url, config, (), (),
                       plan_url or storage.join(scratch, "plan.parquet"),
                       scratch if owned else None)  # fmt: skip
    try:
        shards, rejected = _write_plan(layout_obj, src_url, plan, scratch)
    except BaseException:
        _remove_folder(scratch)
        raise
    if not owned:
        _remove_folder(scratch)  # only the sort's spilled runs were there
    logger.info(
        "%s: %d samples in %d shards, %d rejected while planning (plan: %s)",
        name,
        sum(s.count for s in shards),
        len(shards),
        len(rejected),
        storage.redact(plan.plan_url),
    )
    return dataclasses.replace(plan, shards=tuple(shards), rejected=tuple(rejected))
