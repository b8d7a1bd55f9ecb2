"""The render-batch stage: a trained generator turns (source, target pose) requests into images.

Layout under ``ROOT/renders/RUN/NAME``::

    render.json            the resolved job: checkpoint (URL, sha256, step), scale, inputs
    requests.parquet       every request (source_key, target_key) with its output key and shard
    NAME-00000.tar         KEY.png (blended) [+ KEY.pred.png, KEY.warp.png, KEY.tex.png]
    NAME-00000.parquet     one row per rendered sample (MANIFEST_SCHEMA)

Sources (image + IUV) come from data set ``dataset``; target IUVs from ``pose_bank`` (another
data set's IUV shards: any person into any pose) or from ``dataset`` itself. An output shard
whose marker matches its fingerprint (checkpoint sha256, settings, its requests, the markers of
the input shards it reads) is skipped before anything is decoded. Missing keys and unusable
inputs become rows of ``failures/render/NAME.parquet``; the rest of the shard is rendered.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from dpt_core import storage
from dpt_core.data import shards
from dpt_core.data.manifest import dataset_shard_urls, shards_folder
from dpt_core.data.pairs import pairs_url, read_pairs
from dpt_core.iuv import decode_iuv_png
from dpt_core.models import DensePoseTransfer, ModelScale, images_from_model
from dpt_core.train.checkpoint import checkpoint_scale, load_checkpoint, resolve_checkpoint
from dpt_core.train.samples import decode_sample, fit_square

logger = logging.getLogger(__name__)

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


# ---- inputs: where each key lives, members fetched shard by shard --------------------------


@dataclass(frozen=True)
class InputIndex:
    """Where one data set's samples live: ``images`` / ``iuvs`` map a key to its shard URL."""

    images: dict[str, str]
    person: dict[str, str]
    iuvs: dict[str, str]

    @classmethod
    def build(
        cls,
        root_url: str,
        dataset: str,
        iuv_source: str,
        images: bool = True,
        keys: Iterable[str] | None = None,
    ) -> InputIndex:
        """From the Parquet manifests only (FileNotFoundError naming a missing folder).

        ``keys``: index only these, reading only the manifests whose key range (Parquet
        statistics) can hold one of them, so one render shard's index costs the same at any
        data-set size; None indexes every key.
        """
        wanted = None if keys is None else sorted(set(keys))
        image_urls, person = {}, {}
        if images:
            folder = shards_folder(root_url, dataset)
            urls = dataset_shard_urls(root_url, dataset)
            for url in _holding(urls, wanted):
                table = shards.read_manifest(shards.shard_manifest_url(url), INDEX_COLUMNS)
                for key, stem, pid in zip(*table.to_pydict().values(), strict=True):
                    if wanted is None or _has(wanted, key):
                        image_urls[key] = storage.join(folder, f"{stem}.tar")
                        person[key] = pid or ""
        iuvs = {}
        iuv_urls = shards.shard_urls(storage.join(root_url, "densepose", dataset, iuv_source))
        for url in _holding([u for u in iuv_urls if storage.exists(shards.shard_manifest_url(u))],
                            wanted):  # fmt: skip
            found = shards.read_manifest(shards.shard_manifest_url(url), ["key"]).column("key")
            iuvs |= {k: url for k in found.to_pylist() if wanted is None or _has(wanted, k)}
        return cls(image_urls, person, iuvs)

    def urls(self, keys: Iterable[str], images: bool = True) -> list[str]:
        """Shard URLs holding ``keys`` (their IUVs, and images when ``images``)."""
        maps = (self.iuvs, self.images) if images else (self.iuvs,)
        return sorted({m[k] for m in maps for k in keys if k in m})


def _has(sorted_keys: list[str], key: str) -> bool:
    i = bisect.bisect_left(sorted_keys, key)
    return i < len(sorted_keys) and sorted_keys[i] == key


def _key_range(manifest_url: str) -> tuple[str, str] | None:
    """(smallest, largest) key of a manifest from its footer's statistics; None if unknown."""
    with storage.open_read(manifest_url) as stream:
        meta = pq.ParquetFile(stream).metadata
    if meta.num_rows == 0:
        return ("", "")
    column = meta.schema.to_arrow_schema().get_field_index("key")
    if column < 0:
        return None
    stats = [meta.row_group(g).column(column).statistics for g in range(meta.num_row_groups)]
    if any(st is None or not st.has_min_max for st in stats):
        return None
    return min(st.min for st in stats), max(st.max for st in stats)


def _holding(shard_urls: list[str], sorted_keys: list[str] | None) -> list[str]:
    """The shards whose manifest's key range holds one of ``sorted_keys`` (all if None)."""
    if sorted_keys is None:
        return shard_urls
    kept = []
    for url in shard_urls:
        span = _key_range(shards.shard_manifest_url(url))
        i = 0 if span is None else bisect.bisect_left(sorted_keys, span[0])
        if span is None or (i < len(sorted_keys) and sorted_keys[i] <= span[1]):
            kept.append(url)
    return kept


def fetch_members(locations: dict[str, str], keys: Iterable[str]) -> dict[str, dict[str, bytes]]:
    """``{key: {ext: bytes}}`` of the ``keys`` found in ``locations``; each shard is read once,
    up to its last wanted key."""
    by_url: dict[str, set[str]] = {}
    for key in keys:
        if key in locations:
            by_url.setdefault(locations[key], set()).add(key)
    found: dict[str, dict[str, bytes]] = {}
    for url, wanted in sorted(by_url.items()):
        samples = shards.iter_shard(url)
        for sample in samples:
            if sample["__key__"] in wanted:
                wanted.discard(str(sample["__key__"]))
                found[str(sample["__key__"])] = {k: v for k, v in sample.items() if k != "__key__"}
                if not wanted:
                    samples.close()
                    break
    return found


def decode_target_iuv(key: str, iuv_png: bytes, size: int) -> torch.Tensor:
    """(3, size, size) uint8 IUV tensor, padded to a square and resized (nearest)."""
    iuv_hw3 = decode_iuv_png(iuv_png, name=f"{key}.iuv.png")
    square = fit_square(iuv_hw3, size, nearest=True, fill=0)
    return torch.from_numpy(np.ascontiguousarray(square)).permute(2, 0, 1).contiguous()


def to_uint8_hwc(images_bchw: torch.Tensor) -> np.ndarray:
    """Model images (B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8 RGB."""
    scaled = (images_from_model(images_bchw.float()) * 255.0).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).cpu().numpy()


def png_rgb(image_hw3: np.ndarray) -> bytes:
    """Deterministic PNG bytes of an (H, W, 3) uint8 RGB array."""
    params = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image_hw3[..., ::-1]), params)
    if not ok:  # pragma: no cover - cv2 fails here only when out of memory
        raise ValueError("png_rgb: cv2 could not encode the image")
    return buf.tobytes()


# ---- planning -----------------------------------------------------------------------------


def _key_columns(requests: pa.Table | Sequence[tuple[str, str]]) -> tuple[pa.Array, pa.Array]:
    """(source keys, target keys) as string arrays."""
    if isinstance(requests, pa.Table):
        missing = {"source_key", "target_key"} - set(requests.column_names)
        if missing:
            raise ValueError(f"requests: missing column(s) {sorted(missing)}")
        columns = (requests.column(c).combine_chunks() for c in ("source_key", "target_key"))
        return tuple(c.cast(pa.string()) for c in columns)  # type: ignore[return-value]
    pairs = [(str(s), str(t)) for s, t in requests]
    return tuple(pa.array([p[i] for p in pairs], pa.string()) for i in (0, 1))  # type: ignore[return-value]


def requests_table(requests: pa.Table | Sequence[tuple[str, str]], shard_size: int) -> pa.Table:
    """Requests sorted by output key, deduplicated, with their shard index (REQUESTS_SCHEMA).

    Columnar (Arrow) throughout: a million requests take a few hundred MB, not gigabytes.
    """
    source, target = _key_columns(requests)
    keys = pc.binary_join_element_wise(source, target, OUTPUT_KEY_SEPARATOR)  # output_key
    table = pa.table({"key": keys, "source_key": source, "target_key": target})
    table = table.take(pc.sort_indices(table, [(c, "ascending") for c in table.column_names]))
    if table.num_rows > 1:  # a repeated request is its sorted neighbour's equal
        key, src = table.column("key"), table.column("source_key")
        repeat = pc.and_(pc.equal(key[1:], key[:-1]), pc.equal(src[1:], src[:-1]))
        table = table.filter(
            pa.concat_arrays([pa.array([True]), pc.invert(repeat).combine_chunks()])
        )
    keys = table.column("key")
    bad = pc.match_substring_regex(keys, r"[./\x00]")
    if pc.any(bad).as_py():
        first = keys.filter(bad)[0].as_py()
        raise ValueError(f"requests: keys must not contain '.', '/' or NUL, got {first!r}")
    if table.num_rows > 1 and pc.any(pc.equal(keys[1:], keys[:-1])).as_py():
        raise ValueError("requests: two requests give the same output key (keys with '__')")
    shard = (np.arange(table.num_rows) // shard_size).astype(np.int32)
    return pa.table([*table.columns, pa.array(shard)], schema=REQUESTS_SCHEMA)


def checkpoint_identity(checkpoint: str) -> tuple[str, str, int, ModelScale]:
    """(resolved .pt URL, sha256 of its bytes, training step, model scale)."""
    url = resolve_checkpoint(checkpoint)
    payload = load_checkpoint(url)
    sha = storage.sha256(url)
    return url, sha, int(payload["step"]), checkpoint_scale(payload)


def plan_render(job: RenderJob, requests: pa.Table | Sequence[tuple[str, str]]) -> dict:
    """Write ``requests.parquet`` and ``render.json``, drop stale shards; returns the info."""
    table = requests_table(requests, job.shard_size)
    if table.num_rows == 0:
        raise ValueError("requests: nothing to render (no request given)")
    url, sha, step, scale = checkpoint_identity(job.checkpoint)
    n_shards = int(table.column("shard")[-1].as_py()) + 1
    info = {
        "version": RENDER_VERSION, **asdict(job), "branches": list(job.branches),
        "checkpoint_url": url, "checkpoint_sha256": sha, "step": step,
        "scale": scale.model_dump(mode="json"), "image_size": scale.image_size,
        "atlas_n": scale.atlas_n, "target_dataset": job.target_dataset,
        "target_source": job.target_source, "requests": table.num_rows, "shards": n_shards,
    }  # fmt: skip
    group = job.shard_size * max(1, REQUESTS_ROW_GROUP // job.shard_size)  # whole shards
    shards.write_manifest(storage.join(job.url, "requests.parquet"), table, REQUESTS_SCHEMA, group)
    storage.write_bytes(storage.join(job.url, "render.json"), json.dumps(info, indent=1).encode())
    for stale in shards.shard_urls(job.url)[n_shards:]:
        for path in (stale, shards.shard_manifest_url(stale), storage.marker_url(stale)):
            fs, inner = storage.url_to_fs(path)
            if fs.exists(inner):
                fs.rm_file(inner)
    logger.info("%s: %d requests in %d shards (step %d)", job.url, table.num_rows, n_shards, step)
    return info


def read_render_info(render_url: str) -> dict:
    """``render.json`` of a render set (FileNotFoundError naming it when missing)."""
    return json.loads(storage.read_bytes(storage.join(render_url, "render.json")))


def read_requests(render_url: str, index: int | None = None) -> pa.Table:
    """``requests.parquet`` of a render set, or the rows of shard ``index`` (read from the
    row groups whose ``shard`` statistics can hold it: a shard costs the same at any size)."""
    url = storage.join(render_url, "requests.parquet")
    if index is None:
        return shards.read_manifest(url)
    with storage.open_read(url) as stream:
        parquet = pq.ParquetFile(stream)
        column = parquet.schema_arrow.get_field_index("shard")
        stats = [parquet.metadata.row_group(g).column(column).statistics
                 for g in range(parquet.num_row_groups)]  # fmt: skip
        groups = [g for g, st in enumerate(stats) if _may_hold(st, index)]
        table = parquet.read_row_groups(groups) if groups else parquet.schema_arrow.empty_table()
    return table.filter(pc.equal(table.column("shard"), index))


def _may_hold(statistics: pq.Statistics | None, value: int) -> bool:
    """Whether a row group with these column statistics may hold ``value``."""
    if statistics is None or not statistics.has_min_max:
        return True
    return statistics.min <= value <= statistics.max


# ---- rendering ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def load_render_model(checkpoint_url: str, sha256: str, device: str) -> DensePoseTransfer:
    """The generator of a checkpoint in eval mode on ``device`` (cached per process)."""
    payload = load_checkpoint(checkpoint_url)
    model = DensePoseTransfer.from_config(checkpoint_scale(payload))
    model.load_state_dict(payload["models"]["generator"])
    return model.to(device).eval()


@dataclass(frozen=True)
class _Item:
    key: str
    source_key: str
    target_key: str
    person_id: str
    tensors: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # source, source IUV, target IUV


def input_indexes(
    job: RenderJob,
    source_keys: Iterable[str] | None = None,
    target_keys: Iterable[str] | None = None,
) -> tuple[InputIndex, InputIndex]:
    """(sources, targets) indexes of a job; the same object twice without a pose bank.

    With ``source_keys`` and ``target_keys``, only those keys are indexed.
    """
    same = (job.target_dataset, job.target_source) == (job.dataset, job.iuv_source)
    wanted = None if source_keys is None or target_keys is None else (set(source_keys),
                                                                      set(target_keys))  # fmt: skip
    keys = None if wanted is None else wanted[0] | (wanted[1] if same else set())
    sources = InputIndex.build(job.root_url, job.dataset, job.iuv_source, keys=keys)
    if same:
        return sources, sources
    bank_keys = None if wanted is None else wanted[1]
    bank = InputIndex.build(job.root_url, job.target_dataset, job.target_source, False, bank_keys)
    return sources, bank


def _decode(
    job: RenderJob, info: dict, rows: list[dict], indexes: tuple, failures: list
) -> Iterator[_Item]:
    """Decoded items of one shard's request rows, lazily; unusable ones go to ``failures``."""
    sources, bank = indexes
    src_keys, tgt_keys = {r["source_key"] for r in rows}, {r["target_key"] for r in rows}
    images = fetch_members(sources.images, src_keys)
    iuvs = fetch_members(sources.iuvs, src_keys | (tgt_keys if bank is sources else set()))
    target_iuvs = iuvs if bank is sources else fetch_members(bank.iuvs, tgt_keys)
    for row in rows:
        s, t = row["source_key"], row["target_key"]
        fail = functools.partial(_failure, row["key"])
        if s not in images or s not in iuvs:
            what = "image" if s not in images else "IUV"
            failures.append(fail(f"{job.dataset}/{s}", "missing source", f"no source {what}"))
            continue
        if t not in target_iuvs:
            failures.append(fail(f"{job.target_dataset}/{t}", "missing target", "no target IUV"))
            continue
        try:
            members = {**images[s], "iuv.png": iuvs[s]["iuv.png"]}
            sample = decode_sample(s, members, info["image_size"], info["atlas_n"])
            target = decode_target_iuv(t, target_iuvs[t]["iuv.png"], info["image_size"])
        except (KeyError, ValueError) as exc:
            failures.append(fail(f"{s}>{t}", "bad iuv", f"{type(exc).__name__}: {exc}"))
            continue
        empty = [n for n, iuv in (("source", sample.iuv), ("target", target)) if not iuv[0].any()]
        if empty:
            failures.append(fail(f"{s}>{t}", "bad iuv", f"{empty[0]} IUV has no body pixel"))
            continue
        tensors = (sample.image, sample.iuv, target)
        yield _Item(row["key"], s, t, sources.person.get(s, ""), tensors)


def _failure(key: str, source: str, reason: str, detail: str) -> storage.Failure:
    return storage.Failure(key, source, STAGE, reason, detail)


def _render(model: DensePoseTransfer, batch: list[_Item], job: RenderJob) -> list[dict]:
    """Shard samples of one batch: ``KEY.png`` and the requested branch members."""
    inputs = [torch.stack(t).to(job.device) for t in zip(*(i.tensors for i in batch), strict=True)]
    with torch.inference_mode():
        out = model(*inputs)
    arrays = {"png": to_uint8_hwc(out.image)}
    arrays |= {f"{b}.png": to_uint8_hwc(getattr(out, BRANCHES[b])) for b in job.branches}
    return [{"__key__": item.key, **{ext: png_rgb(a[i]) for ext, a in arrays.items()}}
            for i, item in enumerate(batch)]  # fmt: skip


def _batches(items: Iterator[_Item], size: int) -> Iterator[list[_Item]]:
    batch: list[_Item] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _manifest_rows(job: RenderJob, info: dict, index: int, items: list[_Item]) -> list[dict]:
    stem, members = shards.shard_name(job.name, index), ["png", *(f"{b}.png" for b in job.branches)]
    return [{"key": i.key, "shard": stem, "source_key": i.source_key, "target_key": i.target_key,
             "source_dataset": job.dataset, "target_dataset": job.target_dataset,
             "person_id": i.person_id, "checkpoint": info["checkpoint_url"],
             "step": info["step"], "members": ",".join(members)} for i in items]  # fmt: skip


def render_shard(
    job: RenderJob, index: int, indexes: tuple[InputIndex, InputIndex] | None = None
) -> dict:
    """Render output shard ``index`` of a planned set (see ``plan_render``); a summary dict.

    ``indexes``: (sources, targets) ``InputIndex`` to reuse across shards (built if None).
    """
    info = read_render_info(job.url)
    rows = read_requests(job.url, index).to_pylist()
    if not rows:
        raise ValueError(f"index: shard {index} is not in the plan of {job.url}")
    wanted = ({r["source_key"] for r in rows}, {r["target_key"] for r in rows})
    sources, bank = indexes or input_indexes(job, *wanted)
    used = sources.urls({r["source_key"] for r in rows})
    used += bank.urls({r["target_key"] for r in rows}, images=False)
    inputs = {u: (storage.read_marker(u) or {}).get("fingerprint") or storage.size(u) for u in used}
    settings = {k: info[k] for k in ("version", "checkpoint_sha256", "branches", "dataset",
                                     "iuv_source", "target_dataset", "target_source")}  # fmt: skip
    out_url, fp = shard_url(job, index), storage.fingerprint(settings, rows, inputs)
    if storage.is_committed(out_url, fp):
        logger.info("%s is up to date: skipped", out_url)
        return {"shard": out_url, "skipped": True, **storage.read_marker(out_url)["info"]}
    model = load_render_model(info["checkpoint_url"], info["checkpoint_sha256"], job.device)
    failures, items = [], []  # items: the rendered requests, tensors dropped

    def samples() -> Iterator[dict]:
        for batch in _batches(_decode(job, info, rows, (sources, bank), failures), job.batch_size):
            yield from _render(model, batch, job)
            items.extend(dataclasses.replace(i, tensors=()) for i in batch)

    written = shards.write_shard(out_url, samples())
    manifest = _manifest_rows(job, info, index, items)
    shards.write_manifest(shards.shard_manifest_url(out_url), manifest, MANIFEST_SCHEMA)
    if failures:
        storage.append_failures(job.root_url, STAGE, job.name, failures)
    summary = {"count": written.count, "failures": len(failures), "sha256": written.sha256}
    storage.mark_committed(out_url, fp, **summary)
    logger.info("%s: %d renders, %d failures", out_url, written.count, len(failures))
    return {"shard": out_url, "skipped": False, **summary}


def render_requests(
    job: RenderJob,
    requests: pa.Table | Sequence[tuple[str, str]],
    progress: Callable[[int, int], None] | None = None,
) -> RenderSummary:
    """Plan and render every shard of ``requests`` ((source_key, target_key) pairs, or a table
    with those columns); ``progress(done, total)`` is called after each shard."""
    info = plan_render(job, requests)
    summary, indexes = RenderSummary(job.url, info["shards"]), input_indexes(job)
    for index in range(info["shards"]):
        result = render_shard(job, index, indexes)
        summary.shard_results.append(result)
        summary.skipped += int(result["skipped"])
        summary.rendered += int(not result["skipped"])
        summary.samples += int(result.get("count", 0))
        summary.failures += int(result.get("failures", 0))
        if progress is not None:
            progress(index + 1, info["shards"])
    return summary


def pairs_requests(job: RenderJob, split: str = "test", limit: int | None = None) -> pa.Table:
    """The ``split`` pairs of ``job.dataset`` as requests (REQUESTS_SCHEMA); ``limit`` keeps
    that many, evenly spaced in output-key order."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 or None, got {limit}")
    pairs = shards.read_manifest(pairs_url(job.root_url, job.dataset, split), PAIR_COLUMNS)
    table = requests_table(pairs, job.shard_size)
    if limit is not None and table.num_rows > limit:
        keep = np.unique(np.linspace(0, table.num_rows - 1, limit).round().astype(np.int64))
        table = table.take(pa.array(keep))
    return table


def render_pairs(
    job: RenderJob,
    split: str = "test",
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RenderSummary:
    """Render ``pairs_requests(job, split, limit)`` (``pairs/DATASET/SPLIT.parquet``)."""
    return render_requests(job, pairs_requests(job, split, limit), progress)


def pose_bank_requests(
    job: RenderJob, split: str = "test", per_source: int = 4, seed: int = 0
) -> list[tuple[str, str]]:
    """Every image of the ``split`` pairs of ``job.dataset`` (as source) with ``per_source``
    target poses of the pose bank, drawn without replacement (seeded per source)."""
    if per_source < 1:
        raise ValueError(f"per_source must be >= 1, got {per_source}")
    pairs = read_pairs(job.root_url, job.dataset, split)
    sources = sorted({k for c in ("source_key", "target_key") for k in pairs.column(c).to_pylist()})
    targets = np.asarray(sorted(input_indexes(job)[1].iuvs), dtype=object)
    if not len(targets):
        raise ValueError(f"pose_bank: no IUV in densepose/{job.target_dataset}/{job.target_source}")
    k = min(per_source, len(targets))
    draws = [
        np.random.default_rng([seed, i]).choice(targets, k, False) for i in range(len(sources))
    ]
    return [(s, str(t)) for s, picked in zip(sources, draws, strict=True) for t in picked]
