"""What a render set is: its job settings, constants, manifest schema and output keys."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyarrow as pa

from dpt_core import storage
from dpt_core.data import shards

STAGE = "render"


RENDER_VERSION = 1


BRANCHES = {"pred": "predicted", "warp": "warped", "tex": "atlas"}  # member -> TransferOutput


PNG_COMPRESSION = 3


PAIR_COLUMNS = ("source_key", "target_key")


INDEX_COLUMNS = ("key", "shard", "person_id")


REQUESTS_ROW_GROUP = 65_536  # rows per row group of requests.parquet, rounded to whole shards


_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


MANIFEST_SCHEMA = pa.schema(
    [("key", pa.string()), ("shard", pa.string()), ("source_key", pa.string()),
     ("target_key", pa.string()), ("source_dataset", pa.string()),
     ("target_dataset", pa.string()), ("person_id", pa.string()), ("checkpoint", pa.string()),
     ("step", pa.int64()), ("members", pa.string())]
)  # fmt: skip


REQUESTS_SCHEMA = pa.schema(
    [("key", pa.string()), ("source_key", pa.string()), ("target_key", pa.string()),
     ("shard", pa.int32())]
)  # fmt: skip


@dataclass(frozen=True)
class RenderJob:
    """One render set ``ROOT/renders/RUN/NAME``.

    ``checkpoint``: a ``.pt`` URL or a run folder (its latest checkpoint); ``run`` defaults to
    the ``runs/RUN/`` folder the checkpoint is in. ``dataset`` / ``iuv_source``: the sources'
    images and IUVs; ``pose_bank`` / ``pose_bank_source``: the target IUVs (default: the same).
    ``branches``: extra members among ``pred``, ``warp``, ``tex``.
    """

    root_url: str
    checkpoint: str
    name: str
    run: str | None = None
    dataset: str = "studio"
    iuv_source: str = "studio"
    pose_bank: str | None = None
    pose_bank_source: str | None = None
    branches: tuple[str, ...] = ()
    batch_size: int = 8
    shard_size: int = 256
    device: str = "cpu"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.branches) - set(BRANCHES))
        if unknown:
            raise ValueError(f"branches: unknown {unknown}; expected some of {sorted(BRANCHES)}")
        object.__setattr__(self, "branches", tuple(b for b in BRANCHES if b in self.branches))
        if self.batch_size < 1 or self.shard_size < 1:
            raise ValueError(f"batch_size, shard_size must be >= 1: {self.batch_size}, "
                             f"{self.shard_size}")  # fmt: skip
        if not re.fullmatch(r"cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"device must be cpu, cuda or cuda:N, got {self.device!r}")
        if self.run is None:
            object.__setattr__(self, "run", run_of_checkpoint(self.checkpoint))
        for arg in ("name", "run", "dataset", "iuv_source", "pose_bank", "pose_bank_source"):
            value = getattr(self, arg)
            if value is not None and not _PLAIN.match(value):
                raise ValueError(f"{arg} must be a plain name ([A-Za-z0-9_.-]), got {value!r}")

    @property
    def target_dataset(self) -> str:
        return self.pose_bank or self.dataset

    @property
    def target_source(self) -> str:
        return self.pose_bank_source or self.iuv_source

    @property
    def url(self) -> str:
        """``ROOT/renders/RUN/NAME``."""
        return storage.join(self.root_url, "renders", str(self.run), self.name)


@dataclass
class RenderSummary:
    """What a whole-set render did: shards rendered / skipped, samples and failures."""

    url: str
    shards: int
    rendered: int = 0
    skipped: int = 0
    samples: int = 0
    failures: int = 0
    shard_results: list[dict] = field(default_factory=list)


def run_of_checkpoint(checkpoint: str) -> str:
    """``RUN`` of a checkpoint URL inside ``.../runs/RUN/``; ValueError when there is none."""
    parts = checkpoint.rstrip("/").split("/")
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "runs" and _PLAIN.match(parts[i + 1]):
            return parts[i + 1]
    raise ValueError(f"run: cannot tell the run from checkpoint {checkpoint!r}; pass run=...")


OUTPUT_KEY_SEPARATOR = "__"


def output_key(source_key: str, target_key: str) -> str:
    """Key of a rendered sample: ``SOURCE__TARGET``."""
    return f"{source_key}{OUTPUT_KEY_SEPARATOR}{target_key}"


def shard_url(job: RenderJob, index: int) -> str:
    """``ROOT/renders/RUN/NAME/NAME-NNNNN.tar``."""
    return storage.join(job.url, f"{shards.shard_name(job.name, index)}.tar")
