"""The cases of a render set: each rendered sample with its decoded source, target and IUVs, and
the scorer that turns batches of cases into metric rows."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from dpt_core import render
from dpt_core.atlas import scatter
from dpt_core.data import shards
from dpt_core.evaluate import report
from dpt_core.evaluate.scores import (
    IMAGE_BRANCHES,
    PART_COLUMNS,
    TEXTURE_BRANCHES,
    EvalOptions,
    _Atlases,
    _cell,
    _to_u8_hw3,
    _to_unit,
    decode_png,
    part_l1,
    region_metrics,
)
from dpt_core.metrics import (
    compute_image_metrics_batch,
    load_lpips,
    mean_part_colour_fill,
    mirrored_part_fill,
    nearest_visible_fill,
    push_pull_fill,
    strip_fill,
    texture_completion_error,
    texture_error_by_part,
)
from dpt_core.studio.preview import iuv_to_rgb
from dpt_core.train.samples import Sample, decode_sample

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderedCase:
    """One rendered sample with its decoded inputs; ``target`` is None without ground truth."""

    meta: dict
    rendered: dict
    source: Sample
    target: Sample | None
    target_iuv: torch.Tensor


def _sample(key: str, images: dict, iuvs: dict, size: int, n: int) -> Sample | None:
    if key not in images or key not in iuvs:
        return None
    return decode_sample(key, {**images[key], "iuv.png": iuvs[key]["iuv.png"]}, size, n)


def rendered_cases(render_url: str, info: dict) -> Iterator[RenderedCase]:
    """Every rendered sample of the set, shard by shard, with its decoded inputs."""
    sources, bank = render.input_indexes(render.RenderJob(**_job_fields(info)))
    size, n = info["image_size"], info["atlas_n"]
    for url in shards.shard_urls(render_url):
        table = shards.read_manifest(shards.shard_manifest_url(url))
        manifest = {r["key"]: r for r in table.to_pylist()}
        src_keys = set(table.column("source_key").to_pylist())
        tgt_keys = set(table.column("target_key").to_pylist())
        gt_keys = tgt_keys if bank is sources else set()
        images = render.fetch_members(sources.images, src_keys | gt_keys)
        iuvs = render.fetch_members(sources.iuvs, src_keys | gt_keys)
        target_iuvs = iuvs if bank is sources else render.fetch_members(bank.iuvs, tgt_keys)

        for rendered in shards.iter_shard(url):
            row = manifest[str(rendered["__key__"])]
            s, t = row["source_key"], row["target_key"]
            source = _sample(s, images, iuvs, size, n)
            if source is None or t not in target_iuvs:
                logger.warning("%s: inputs of %s are gone: not scored", url, row["key"])
                continue
            same_person = t in gt_keys and sources.person.get(t) == row["person_id"]
            target = _sample(t, images, iuvs, size, n) if same_person else None
            target_iuv = render.decode_target_iuv(t, target_iuvs[t]["iuv.png"], size)
            meta = {c: row[c] for c in ("key", "source_key", "target_key", "person_id")}
            yield RenderedCase(meta, rendered, source, target, target_iuv)


def _job_fields(info: dict) -> dict:
    fields = ("root_url", "checkpoint", "name", "run", "dataset", "iuv_source", "pose_bank",
              "pose_bank_source")  # fmt: skip
    return {k: info[k] for k in fields}


class _Scorer:
    """Metric rows of batches of cases; ``notes`` collects why a metric is not computed."""

    def __init__(self, info: dict, options: EvalOptions, atlases: _Atlases) -> None:
        self.n, self.atlases = info["atlas_n"], atlases
        self.lpips = load_lpips(options.weights)
        self.notes: dict[str, str] = {}

    def image_rows(self, cases: list[RenderedCase]) -> list[dict]:
        cases = [c for c in cases if c.target is not None]
        if not cases:
            return []
        target_unit = _to_unit(torch.stack([c.target.image for c in cases]))
        iuv = torch.stack([c.target.iuv for c in cases])
        mask = torch.stack([c.target.mask for c in cases])
        rows = []
        for branch, ext in IMAGE_BRANCHES.items():
            if ext not in cases[0].rendered:
                continue
            pred = torch.from_numpy(np.stack([decode_png(c.rendered[ext]) for c in cases]))
            pred_unit = pred.permute(0, 3, 1, 2).float() / 255.0
            cells = compute_image_metrics_batch(
                pred_unit, target_unit, mask, lpips_model=self.lpips
            )
            regions = region_metrics(pred_unit, target_unit, iuv, mask)
            parts = part_l1(pred_unit, target_unit, iuv).tolist()
            for b, case in enumerate(cases):
                row = {**case.meta, "branch": branch}
                for name, value in cells[b].items():
                    row[name] = _cell(value)
                    if isinstance(value, str):
                        self.notes.setdefault(name, value)
                row |= {k: _cell(v[b]) for k, v in regions.items()}
                row |= {c: _cell(v) for c, v in zip(PART_COLUMNS, parts[b], strict=True)}
                rows.append(row)
        return rows

    def texture_rows(self, cases: list[RenderedCase]) -> list[dict]:
        rows = []
        for case in cases:
            truth = self.atlases.get(case.meta["person_id"])
            if "tex.png" not in case.rendered or truth is None:
                continue
            gt, scored = truth
            iuv_hw3 = case.source.iuv.permute(1, 2, 0).numpy()
            partial, seen = scatter(_to_u8_hw3(case.source.image), iuv_hw3, self.n)
            fills = (
                decode_png(case.rendered["tex.png"]),
                mean_part_colour_fill(partial, seen, self.n),
                nearest_visible_fill(partial, seen, self.n),
                mirrored_part_fill(partial, seen, self.n),
                push_pull_fill(partial, seen, self.n),
                strip_fill(partial, seen, self.n),
            )
            for branch, atlas in zip(TEXTURE_BRANCHES, fills, strict=True):
                try:
                    error = texture_completion_error(atlas, gt, seen, scored)
                except ValueError:  # the source saw every texel: nothing to score
                    error = None
                parts = texture_error_by_part(atlas, gt, seen, self.n, scored).tolist()
                row = {**case.meta, "branch": branch, "texture_error": error}
                rows.append(row | {c: _cell(v) for c, v in zip(PART_COLUMNS, parts, strict=True)})
        return rows


def _grid_row(case: RenderedCase) -> dict:
    """PNG bytes of the report's grid columns for one case (None where absent)."""
    target = (
        _to_u8_hw3(case.target.image) if case.target is not None else iuv_to_rgb(case.target_iuv)
    )
    row = {"key": case.meta["key"], "source": render.png_rgb(_to_u8_hw3(case.source.image)),
           "target": render.png_rgb(target), "target_is_iuv": case.target is None}  # fmt: skip
    for column, ext in report.GRID_MEMBERS.items():
        row[column] = case.rendered.get(ext)
    return row
