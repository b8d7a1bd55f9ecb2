"""Stage summaries and the Prefect artifacts that show them: counts, failures by reason, links.

A :class:`StageCounts` is what every stage flow returns: shards written and skipped (already
committed with the same input fingerprint), samples out, failures by reason. The artifacts
are published from the flow run (a table per stage, a failures table, a link to a report).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from prefect.artifacts import create_link_artifact, create_table_artifact

from dpt_core import storage


@dataclass(frozen=True)
class StageCounts:
    """Outcome of one stage over a data set: shards written / skipped, samples, failures."""

    stage: str
    dataset: str
    shards: int
    written: int
    skipped: int
    samples: int
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def up_to_date(self) -> bool:
        """True when every shard was already committed: the stage did no work."""
        return self.shards > 0 and self.written == 0

    def describe(self) -> str:
        """One line for the log: what the stage did (or that it had nothing to do)."""
        if self.up_to_date:
            return f"{self.stage}: nothing to do, all {self.shards} shards up to date"
        return (
            f"{self.stage}: {self.written} shards written, {self.skipped} up to date, "
            f"{self.samples} samples, failures {self.failures or 'none'}"
        )

    def as_dict(self) -> dict:
        return {**asdict(self), "up_to_date": self.up_to_date}


def count_shards(
    stage: str, dataset: str, summaries: Iterable[Mapping], failures: Mapping[str, int]
) -> StageCounts:
    """StageCounts from per-shard summary dicts (``skipped`` and ``count`` keys)."""
    rows = list(summaries)
    skipped = sum(bool(r.get("skipped")) for r in rows)
    samples = sum(int(r.get("count", 0)) for r in rows)
    return StageCounts(stage, dataset, len(rows), len(rows) - skipped, skipped, samples, failures)


def failures_by_reason(root: str, stage: str, dataset: str) -> dict[str, int]:
    """Rows of ``failures/STAGE/DATASET.parquet`` counted by reason, sorted by reason."""
    found = storage.read_failures(root, stage, dataset)
    return dict(sorted(Counter(f.reason for f in found).items()))


def artifact_key(*parts: str) -> str:
    """A valid artifact key (lowercase letters, digits, dashes) from ``parts``."""
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


def publish_counts(counts: StageCounts, rows: list[dict] | None = None) -> None:
    """Table artifacts: per-shard ``rows`` (or the totals) and the failures by reason."""
    key = artifact_key(counts.stage, counts.dataset)
    table = rows or [{k: v for k, v in counts.as_dict().items() if k != "failures"}]
    create_table_artifact(table, key=f"{key}-counts", description=counts.describe())
    reasons = [{"reason": r, "count": n} for r, n in counts.failures.items()]
    create_table_artifact(
        reasons or [{"reason": "(none)", "count": 0}],
        key=f"{key}-failures",
        description=f"{counts.stage} failures by reason for {counts.dataset}",
    )


def publish_link(key: str, url: str, text: str) -> None:
    """A link artifact to ``url`` (a local path becomes a ``file://`` URL; credentials in the
    URL are redacted)."""
    link = storage.redact(url) if "://" in url else "file://" + os.path.abspath(url)
    create_link_artifact(link, link_text=text, key=artifact_key(key), description=text)
