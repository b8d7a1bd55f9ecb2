"""The ``shard-dataset`` stage: a dataset layout -> WebDataset shards + Parquet manifests.

Three entry points, so a flow can map over shards:

* :func:`plan_shards` scans the source once and assigns samples (sorted by key) to shards
  limited by count and bytes, writing them to a plan file (one row group per shard); each
  :class:`ShardPlan` names its row group and carries its input fingerprint.
* :func:`write_dataset_shard` writes one shard (tar, manifest, stats, marker last) and
  skips it when it is already committed with the same fingerprint.
* :func:`finalize_dataset` writes the failures log and ``_stats.json`` from all results,
  then removes the plan file.

:func:`shard_dataset` runs all three, the shards on a pool of processes.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.context
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict

from dpt_core import storage
from dpt_core.data import manifest
from dpt_core.data.layouts import Layout, Rejected
from dpt_core.data.planning import (
    SHARD_FORMAT_VERSION,
    DatasetPlan,
    DatasetSummary,
    ShardConfig,
    ShardPlan,
    ShardResult,
    plan_shards,
    release_plan,
    shared_plan_url,
)
from dpt_core.data.shard_writer import write_dataset_shard
from dpt_core.data.shards import shard_manifest_url, shard_urls

logger = logging.getLogger(__name__)


def _remove(url: str) -> None:
    fs, path = storage.url_to_fs(url)
    if fs.exists(path):
        fs.rm_file(path)


def _remove_stale_files(plan: DatasetPlan) -> None:
    """Delete shards of an earlier, larger run and temp files of a killed run."""
    folder = manifest.shards_folder(plan.root_url, plan.dataset)
    if not storage.exists(folder):
        return
    keep = {p.shard_url for p in plan.shards}
    for url in (u for u in shard_urls(folder) if u not in keep):
        for part in (
            storage.marker_url(url),
            manifest.shard_stats_url(url),
            shard_manifest_url(url),
        ):
            _remove(part)
        _remove(url)
        logger.info("removed stale shard %s", url)
    for temp in storage.remove_stale_temps(folder):  # not those of a concurrent run
        logger.info("removed temp file %s of an interrupted run", temp)


def _write_failures(plan: DatasetPlan, rejected: list[Rejected]) -> None:
    """Replace the failures log with this run's rejections (it describes the dataset now)."""
    _remove(storage.failures_url(plan.root_url, manifest.STAGE, plan.dataset))
    redact = storage.redact  # credentials in source URLs are never recorded
    failures = [
        storage.Failure(r.key, redact(r.source), manifest.STAGE, r.reason, redact(r.detail))
        for r in rejected
    ]
    if failures:
        storage.append_failures(plan.root_url, manifest.STAGE, plan.dataset, failures)


def finalize_dataset(plan: DatasetPlan, results: list[ShardResult]) -> DatasetSummary:
    """Write ``failures/shard/NAME.parquet`` and ``datasets/NAME/_stats.json`` (last), then
    remove the plan file."""
    if sorted(r.shard_url for r in results) != sorted(p.shard_url for p in plan.shards):
        raise ValueError("results must hold exactly one ShardResult per planned shard")
    _remove_stale_files(plan)
    rejected = [*plan.rejected, *(r for res in results for r in res.rejected)]
    _write_failures(plan, rejected)
    by_reason = dict(sorted(Counter(r.reason for r in rejected).items()))
    stats = {
        "dataset": plan.dataset,
        "layout": plan.layout,
        "source": storage.redact(plan.src_url),
        "format_version": SHARD_FORMAT_VERSION,
        "shards": len(plan.shards),
        "written": sum(r.count for r in results),
        "rejected": len(rejected),
        "by_reason": by_reason,
        "bytes": sum(r.nbytes for r in results),
        "config": asdict(plan.config),
        "fingerprint": storage.fingerprint([p.fingerprint for p in plan.shards]),
    }
    stats_url = storage.join(manifest.dataset_url(plan.root_url, plan.dataset), "_stats.json")
    storage.write_bytes(stats_url, manifest.dumps(stats))
    release_plan(plan)
    return DatasetSummary(
        plan.dataset,
        len(plan.shards),
        stats["written"],
        len(rejected),
        by_reason,
        stats["bytes"],
        sum(r.skipped for r in results),
        stats_url,
    )


def _pool_context() -> multiprocessing.context.BaseContext:
    """Workers forked from a clean server process that has imported the shard writer once.

    Never a plain fork of this (possibly threaded) process; spawn where forkserver is missing.
    Workers see the environment, not state set in this process (e.g. ``configure_s3``).
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["dpt_core.data.shard_writer"])
    return context


def _outcomes(
    plans: tuple[ShardPlan, ...], workers: int, overwrite: bool
) -> Iterator[tuple[ShardPlan, ShardResult | Exception]]:
    """(plan, result or the exception it raised) as shards finish."""
    if workers <= 1:
        for plan in plans:
            try:
                outcome: ShardResult | Exception = write_dataset_shard(plan, overwrite)
            except Exception as exc:
                outcome = exc
            yield plan, outcome
        return
    with ProcessPoolExecutor(workers, mp_context=_pool_context()) as pool:
        futures = {pool.submit(write_dataset_shard, p, overwrite): p for p in plans}
        for future in as_completed(futures):
            error = future.exception()
            yield futures[future], error if isinstance(error, Exception) else future.result()


def run_shards(
    plan: DatasetPlan,
    workers: int = 1,
    overwrite: bool = False,
    on_result: Callable[[ShardResult], None] | None = None,
) -> list[ShardResult]:
    """Write every shard of ``plan`` (``workers`` processes; 1 = in this process).

    A failing shard does not stop the others; RuntimeError lists the failed ones at the end.
    """
    results, errors = [], []
    for shard_plan, outcome in _outcomes(plan.shards, workers, overwrite):
        if isinstance(outcome, Exception):
            logger.error("shard %s failed: %s", shard_plan.shard_url, outcome)
            errors.append(f"{shard_plan.shard_url}: {type(outcome).__name__}: {outcome}")
            continue
        results.append(outcome)
        if on_result is not None:
            on_result(outcome)
    if errors:
        raise RuntimeError(f"{len(errors)} shard(s) failed (re-run to resume): {'; '.join(errors)}")
    return results


def shard_dataset(
    layout: str | Layout,
    src_url: str,
    root_url: str,
    name: str | None = None,
    config: ShardConfig | None = None,
    workers: int = 1,
    overwrite: bool = False,
    on_result: Callable[[ShardResult], None] | None = None,
    **layout_options: object,
) -> DatasetSummary:
    """:func:`plan_shards`, :func:`run_shards`, :func:`finalize_dataset` in one call.

    Committed shards with the same fingerprint are skipped unless ``overwrite``.
    """
    plan = plan_shards(layout, src_url, root_url, name, config, **layout_options)
    try:
        results = run_shards(plan, workers, overwrite, on_result)
        summary = finalize_dataset(plan, results)
    finally:
        release_plan(plan)
    logger.info(
        "%s: %d written, %d rejected %s",
        summary.dataset,
        summary.written,
        summary.rejected,
        summary.by_reason,
    )
    return summary


__all__ = [
    "SHARD_FORMAT_VERSION",
    "DatasetPlan",
    "DatasetSummary",
    "ShardConfig",
    "ShardPlan",
    "ShardResult",
    "finalize_dataset",
    "plan_shards",
    "release_plan",
    "run_shards",
    "shard_dataset",
    "shared_plan_url",
    "write_dataset_shard",
]
