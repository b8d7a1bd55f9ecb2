"""Training data streamed from shards: decoding, batching and the DataLoader.

``TrainStream`` is an IterableDataset of ready batches. Each (rank, loader worker) slot
follows its own deterministic item order (``dpt_core.train.order``) and keeps a reference
counted cache of *encoded* samples: when a unit of items enters the shuffle buffer, the shard
tars it needs are streamed once and only the members of those items are kept; a sample is
dropped when its last item has left. Memory therefore holds at most the shuffle buffer's items
plus one unit (items sharing the same shards), whatever the data set's size.

Batches (``kind="pairs"``): ``source``, ``target`` (B, 3, S, S) float in [-1, 1];
``source_iuv``, ``target_iuv`` (B, 3, S, S) uint8 (I, U·255, V·255); ``target_mask``
(B, 1, S, S) float 0/1 (the data set's ``mask.png``, else the target body I > 0);
``partial_atlas`` (B, 3, 6n, 4n) in [-1, 1] and ``visibility`` (B, 1, 6n, 4n) 0/1 of the
source (the precomputed texture when present, else ``scatter_torch`` here); ``person`` (B,)
int64. ``kind="multiview"``: ``image``, ``iuv``, ``partial_atlas``, ``visibility``, ``person``
for ``batch_size // views`` persons × ``views`` views. Both carry ``keys`` (list of str).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from dpt_core.data.shards import iter_shard
from dpt_core.train import order
from dpt_core.train.index import TrainIndex
from dpt_core.train.samples import collate_multiview, collate_pairs, decode_sample

logger = logging.getLogger(__name__)

_IMAGE_MEMBERS = ("png", "jpg", "jpeg", "mask.png")


@dataclass(frozen=True)
class StreamSpec:
    """What a stream yields: ``kind`` pairs | multiview, sizes, seed and the stage name."""

    kind: str
    batch_size: int
    image_size: int
    atlas_n: int
    seed: int
    stage: str
    views: int = 2
    buffer: int = 256

    @property
    def items_per_batch(self) -> int:
        return self.batch_size // self.views if self.kind == "multiview" else self.batch_size


def multiview_items(index: TrainIndex, views: int, generator: np.random.Generator) -> np.ndarray:
    """(M, views) sample ids: each person's samples shuffled and cut into groups of ``views``
    (the last group topped up with other views of the person); persons with one sample skip."""
    by_person = np.split(
        np.argsort(index.sample_person, kind="stable"),
        np.cumsum(np.bincount(index.sample_person))[:-1],
    )
    groups = []
    for samples in by_person:
        if len(samples) < 2:
            continue
        shuffled = generator.permutation(samples)
        short = -len(shuffled) % views
        extra = generator.choice(samples, short, replace=short > len(samples))
        groups.append(np.concatenate([shuffled, extra]).reshape(-1, views))
    if not groups:
        raise ValueError("multi-view pretraining needs persons with at least two samples")
    return np.concatenate(groups)


class ItemPlan:
    """The items of every epoch of one stage, in epoch order (see ``order.epoch_order``)."""

    def __init__(self, index: TrainIndex, spec: StreamSpec) -> None:
        self.index, self.spec = index, spec
        if spec.kind == "pairs":
            self._units = order.unit_ids(index.pairs, index.sample_shard)
            self.items_per_epoch = len(index.pairs)
        elif spec.kind == "multiview":
            counts = np.bincount(index.sample_person)
            self.items_per_epoch = int(np.ceil(counts[counts >= 2] / spec.views).sum())
        else:
            raise ValueError(f"kind: expected 'pairs' or 'multiview', got {spec.kind!r}")

    def epoch_items(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(items (N, K) sample ids, units (N,)) of ``epoch`` in order."""
        spec = self.spec
        if spec.kind == "pairs":
            items, units = self.index.pairs, self._units
        else:
            items = multiview_items(
                self.index, spec.views, order.rng(spec.seed, spec.stage, epoch, 1)
            )
            units = order.unit_ids(items, self.index.sample_shard)
        perm = order.epoch_order(units, order.rng(spec.seed, spec.stage, epoch))
        return items[perm], units[perm]

    def events(self, slot: int, n_slots: int, skip_items: int) -> Iterator[order.Feed | order.Emit]:
        """The endless Feed/Emit stream of one slot, the first ``skip_items`` items left out."""
        share = order.slot_chunk(self.items_per_epoch, slot, n_slots)
        per_epoch = share.stop - share.start
        if per_epoch == 0:
            raise ValueError(
                f"{self.items_per_epoch} training items cannot feed {n_slots} ranks × workers; "
                "use fewer workers or processes"
            )
        epoch, skip_items = divmod(skip_items, per_epoch)
        while True:
            items, units = self.epoch_items(epoch)
            generator = order.rng(self.spec.seed, self.spec.stage, epoch, slot, 2)
            yield from order.chunk_events(
                items[share], units[share], skip_items, self.spec.buffer, generator, epoch
            )
            epoch, skip_items = epoch + 1, 0


class SampleCache:
    """Encoded members of the samples that pending items need, with reference counts."""

    def __init__(self, index: TrainIndex) -> None:
        self.index = index
        self.refs: Counter[int] = Counter()
        self.members: dict[int, dict[str, bytes]] = {}

    def acquire(self, sample_ids: np.ndarray) -> None:
        """Count references to ``sample_ids`` and load the missing ones, one read per shard."""
        ids = sample_ids.reshape(-1).tolist()
        missing = sorted({i for i in ids if i not in self.members})
        self.refs.update(ids)
        shard_of = self.index.sample_shard
        for shard in sorted({int(shard_of[i]) for i in missing}):
            self._load(shard, [i for i in missing if shard_of[i] == shard])

    def release(self, sample_ids: np.ndarray) -> None:
        for i in sample_ids.reshape(-1).tolist():
            self.refs[i] -= 1
            if self.refs[i] <= 0:
                del self.refs[i]
                self.members.pop(i, None)

    def _load(self, shard: int, sample_ids: list[int]) -> None:
        files = self.index.shards[shard]
        wanted = {str(self.index.keys[i]): i for i in sample_ids}
        found: dict[int, dict[str, bytes]] = {i: {} for i in sample_ids}
        sources = [(files.images, _IMAGE_MEMBERS), (files.iuvs, ("iuv.png",))]
        if files.textures and self.index.has_texture[sample_ids].any():
            sources.append((files.textures, ("tex.png", "vis.png")))
        for url, exts in sources:
            for sample in iter_shard(url):
                i = wanted.get(str(sample["__key__"]))
                if i is not None:
                    found[i].update({e: sample[e] for e in exts if e in sample})
        lacking = [str(self.index.keys[i]) for i in sample_ids if "iuv.png" not in found[i]]
        if lacking:
            raise RuntimeError(f"{files.iuvs}: samples {lacking[:5]} missing (index out of date?)")
        self.members.update(found)


class TrainStream(IterableDataset):
    """Endless batches of one stage for one rank; ``start_batch`` skips batches (resume)."""

    def __init__(
        self,
        index: TrainIndex,
        spec: StreamSpec,
        rank: int = 0,
        world_size: int = 1,
        start_batch: int = 0,
    ) -> None:
        super().__init__()
        self.index, self.spec, self.plan = index, spec, ItemPlan(index, spec)
        self.rank, self.world_size, self.start_batch = rank, world_size, start_batch

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        # the loader starts every run at worker 0: after a resume at batch k, worker w plays
        # the part worker (w + k) % workers had in the uninterrupted run
        worker = (worker + self.start_batch) % workers
        slot, n_slots = self.rank * workers + worker, self.world_size * workers
        skip = order.batches_before(self.start_batch, worker, workers) * self.spec.items_per_batch
        cache, batch = SampleCache(self.index), []
        for event in self.plan.events(slot, n_slots, skip):
            if isinstance(event, order.Feed):
                cache.acquire(event.items)
                continue
            batch.append(event.item)
            if len(batch) == self.spec.items_per_batch:
                yield self._collate(cache, batch)
                for item in batch:
                    cache.release(item)
                batch = []

    def _collate(self, cache: SampleCache, items: list[np.ndarray]) -> dict:
        """Decode and batch ``items``; an undecodable item is replaced by the batch's first
        good one (logged), so a batch always holds ``items_per_batch`` items."""
        spec, index = self.spec, self.index
        decoded = {}
        for i in sorted({int(i) for item in items for i in item}):
            try:
                decoded[i] = decode_sample(
                    str(index.keys[i]), cache.members[i], spec.image_size, spec.atlas_n
                )
            except ValueError as exc:
                logger.warning("sample left out of training: %s", exc)
        good = [item for item in items if all(int(i) in decoded for i in item)]
        if not good:
            raise RuntimeError(f"no sample of a batch could be decoded: {index.keys[items[0]]}")
        items = [item if all(int(i) in decoded for i in item) else good[0] for item in items]
        persons = [int(index.sample_person[item[0]]) for item in items]
        if spec.kind == "pairs":
            pairs = [(decoded[int(s)], decoded[int(t)]) for s, t in items]
            return collate_pairs(pairs, persons, spec.atlas_n)
        views = [[decoded[int(i)] for i in item] for item in items]
        return collate_multiview(views, persons, spec.atlas_n)


def make_loader(stream: TrainStream, workers: int, pin_memory: bool = False) -> DataLoader:
    """A DataLoader over ready batches (``batch_size=None``), ``workers`` processes.

    Workers start from a fork server, not a fork of the trainer: a forked child inherits the
    caller's threads and event loops (a Prefect flow's, say) and dies with exit code 1 when
    the loader is shut down at a stage's end.
    """
    extra = {"prefetch_factor": 2, "multiprocessing_context": "forkserver"} if workers else {}
    return DataLoader(stream, batch_size=None, num_workers=workers, pin_memory=pin_memory, **extra)


def to_device(batch: dict, device: torch.device) -> dict:
    """Tensors of ``batch`` on ``device`` (non-blocking); other values as they are."""
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }
