"""The extract-densepose stage: dataset shards → IUV shards + Parquet manifests, resumable.

Reads ``ROOT/datasets/NAME/shards/NAME-NNNNN.tar`` and writes
``ROOT/densepose/NAME/SOURCE/NAME-NNNNN.tar`` (``KEY.iuv.png``) with ``.parquet`` beside it.
A shard whose marker matches the input fingerprint (input bytes + options + weights) is
skipped. Samples without a person go to ``failures/extract/NAME.parquet``.
"""

from __future__ import annotations

import functools
import logging

from dpt_core import storage
from dpt_core.data import shards
from dpt_core.densepose.extractors import (
    Detectron2Extractor,
    Extractor,
    PrecomputedExtractor,
    StudioExtractor,
)
from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.records import MANIFEST_SCHEMA, Extraction, extraction_records

logger = logging.getLogger(__name__)

STAGE = "extract"


@functools.lru_cache(maxsize=2)
def make_extractor(options: ExtractOptions) -> Extractor:
    """The extractor for ``options`` (cached per process: the model is built once)."""
    if options.source == "detectron2":
        if not storage.exists(str(options.weights)):  # fail before importing detectron2
            raise FileNotFoundError(f"DensePose weights not found: {options.weights}")
        from dpt_core.densepose.model import DensePoseModel

        model = DensePoseModel.build(
            options.config,
            options.weights,
            options.device,
            options.allow_pickle,
            options.overrides(),
        )
        return Detectron2Extractor(model, options.mode, options.batch_size, options.overlap)
    if options.source == "precomputed":
        return PrecomputedExtractor(str(options.precomputed_url), options.mode)
    return StudioExtractor(options.mode)


def input_shard_url(root_url: str, name: str, index: int) -> str:
    """``ROOT/datasets/NAME/shards/NAME-NNNNN.tar``."""
    stem = shards.shard_name(name, index)
    return storage.join(root_url, "datasets", name, "shards", f"{stem}.tar")


def output_shard_url(root_url: str, name: str, source: str, index: int) -> str:
    """``ROOT/densepose/NAME/SOURCE/NAME-NNNNN.tar``."""
    stem = shards.shard_name(name, index)
    return storage.join(root_url, "densepose", name, source, f"{stem}.tar")


def _failure(extraction: Extraction, source_url: str) -> storage.Failure:
    return storage.Failure(extraction.key, source_url, STAGE, extraction.reason, extraction.detail)


def extract_shard(
    root_url: str,
    name: str,
    shard_index: int,
    options: ExtractOptions,
    extractor: Extractor | None = None,
) -> dict:
    """Extract one dataset shard; returns a summary dict (shard URL, counts, skipped)."""
    in_url = input_shard_url(root_url, name, shard_index)
    out_url = output_shard_url(root_url, name, options.source, shard_index)
    if not storage.exists(in_url):
        raise FileNotFoundError(f"dataset shard not found: {in_url}")
    extractor = extractor or make_extractor(options)
    fp = storage.fingerprint(
        storage.sha256(in_url), options.fingerprint_fields(), extractor.identity()
    )
    if storage.is_committed(out_url, fp):
        logger.info("%s is up to date: skipped", out_url)
        marker = storage.read_marker(out_url) or {}
        return {"shard": out_url, "skipped": True, **marker.get("info", {})}
    logger.info(
        "extracting %s → %s (%s, people: %s)", in_url, out_url, options.source, options.mode
    )
    samples, rows, failures = [], [], []
    for batch in shards.batched(shards.iter_shard(in_url), options.batch_size):
        for extraction in extractor.extract(batch):
            if extraction.reason:
                failures.append(_failure(extraction, in_url))
                continue
            for sample, row in extraction_records(extraction, options.source, options.mode):
                samples.append(sample)
                rows.append(row)
    info = shards.write_shard(out_url, samples)
    shards.write_manifest(shards.shard_manifest_url(out_url), rows, schema=MANIFEST_SCHEMA)
    if failures:
        storage.append_failures(root_url, STAGE, name, failures)
    summary = {"count": info.count, "failures": len(failures), "sha256": info.sha256}
    storage.mark_committed(out_url, fp, **summary)
    logger.info("%s: %d IUV samples, %d failures", out_url, info.count, len(failures))
    return {"shard": out_url, "skipped": False, **summary}


def extract_dataset(root_url: str, name: str, options: ExtractOptions) -> list[dict]:
    """Extract every shard of dataset ``name`` (one model for all); summaries in shard order.

    A shard that fails (corrupt input tar, storage down) does not stop the others: they are
    all done, then RuntimeError names every failed shard (re-run to resume).
    """
    folder = storage.join(root_url, "datasets", name, "shards")
    urls = shards.shard_urls(folder)
    if not urls:
        raise FileNotFoundError(f"no shards in {folder}")
    extractor = make_extractor(options)

    def extract(url: str) -> dict:
        return extract_shard(root_url, name, shards.shard_index(url), options, extractor)

    return shards.run_each_shard(urls, extract)
