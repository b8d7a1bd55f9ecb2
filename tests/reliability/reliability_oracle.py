"""Account for every input of a stage run: stored, or logged with a reason, never both or lost.

``account`` compares what a test expected of each input (good, bad with reasons, either)
with what the stage left on storage, adds the counts to the figures and returns the
problems found (an empty list when every input is accounted for).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from reliability_figures import FIGURES

from dpt_core import storage
from dpt_core.data import shards
from dpt_core.data.manifest import read_dataset_manifest, shards_folder

GOOD, BAD, EITHER = "good", "bad", "either"


@dataclass(frozen=True)
class Expect:
    """What must happen to one input: ``good`` stored, ``bad`` logged with one of
    ``reasons`` (any reason when empty), ``either`` one of the two."""

    expect: str
    reasons: frozenset[str] = frozenset()
    kind: str = ""


@contextlib.contextmanager
def batch(stage: str, clear: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Count one batch of ``stage``; an exception escaping it is a crash, unless it is one of
    the ``clear`` errors the test expects (a one-line answer naming the bad input)."""
    FIGURES.add("bad_inputs", "batches")
    FIGURES.add("bad_inputs", f"batches_{stage}")
    try:
        yield
    except clear:
        FIGURES.add("bad_inputs", "clear_errors")
        raise
    except BaseException:
        FIGURES.add("bad_inputs", "crashes")
        raise


def logged_by(root: str, stage: str, name: str, field: str) -> dict[str, list[str]]:
    """``{failure.<field>: [reasons]}`` of ``failures/STAGE/NAME.parquet``."""
    logged: dict[str, list[str]] = defaultdict(list)
    for failure in storage.read_failures(root, stage, name):
        logged[getattr(failure, field)].append(failure.reason)
    return dict(logged)


def stored_sources(root: str, name: str) -> dict[str, str]:
    """``{source URL: key}`` of every sample in dataset NAME's shard manifests."""
    if not storage.exists(shards_folder(root, name)) or not shards.shard_urls(
        shards_folder(root, name)
    ):
        return {}
    table = read_dataset_manifest(root, name, ["source", "key"])
    return dict(
        zip(table.column("source").to_pylist(), table.column("key").to_pylist(), strict=True)
    )


def shard_members(root: str, name: str) -> dict[str, dict]:
    """``{key: sample}`` of every tar of dataset NAME (checks that tars and manifests agree)."""
    folder = shards_folder(root, name)
    if not storage.exists(folder):
        return {}
    found = {}
    for url in shards.shard_urls(folder):
        samples = list(shards.iter_shard(url))
        keys = shards.read_manifest(shards.shard_manifest_url(url)).column("key").to_pylist()
        assert [s["__key__"] for s in samples] == keys, f"{url}: tar and manifest disagree"
        found |= {s["__key__"]: s for s in samples}
    return found


def account(
    stage: str,
    expected: Mapping[str, Expect],
    stored: Mapping[str, object],
    logged: Mapping[str, list[str]],
) -> list[str]:
    """Problems with the outcome of ``expected`` inputs (by id: source URL or key)."""
    problems = []
    for ident, exp in expected.items():
        kept, reasons = ident in stored, logged.get(ident, [])
        FIGURES.add("bad_inputs", "inputs_tried")
        FIGURES.add("bad_inputs", f"inputs_{stage}")
        FIGURES.add("bad_inputs", f"expected_{exp.expect}")
        if kept:
            FIGURES.add("bad_inputs", "processed")
        if reasons:
            FIGURES.add("bad_inputs", "recorded")
        if not kept and not reasons:
            FIGURES.add("bad_inputs", "lost")
            problems.append(f"{exp.kind} {ident!r}: neither stored nor logged")
        elif kept and reasons:
            problems.append(f"{exp.kind} {ident!r}: stored and also logged {reasons}")
        elif exp.expect == GOOD and not kept:
            problems.append(f"{exp.kind} {ident!r}: good input rejected: {reasons}")
        elif exp.expect == BAD and kept:
            problems.append(f"{exp.kind} {ident!r}: bad input stored")
        elif exp.expect == BAD and exp.reasons and not set(reasons) <= exp.reasons:
            problems.append(f"{exp.kind} {ident!r}: reasons {reasons}, expected {exp.reasons}")
    unexpected = sorted(set(logged) - set(expected))
    problems += [f"failure logged for unknown input {u!r}" for u in unexpected]
    return problems
