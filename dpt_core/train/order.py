"""The deterministic order of training items, a pure function of (seed, stage, epoch, slot).

An *item* is a tuple of sample ids decoded together: a (source, target) pair, or ``views``
samples of one person for multi-view pretraining. Items whose samples live in the same set of
shards form a *unit*. Each epoch:

1. units are permuted and items permuted inside their unit (``epoch_order``), so a unit's
   items are contiguous and its shards are read once for all of them;
2. the epoch is cut into ``n_slots = world_size × loader workers`` contiguous, near-equal
   chunks; a slot (one rank's one worker) takes its chunk (``slot_chunk``);
3. the chunk passes a bounded shuffle buffer (``shuffle_buffer``), which mixes neighbouring
   units and delays an item by a bounded number of places on average.

Nothing here depends on iterator state, so a stream can be fast-forwarded to any batch without
decoding (resume), and every rank and worker computes its own share independently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_STAGE_CODES = {"inpainter": 1, "predictive": 2, "blending": 3}


def rng(seed: int, stage: str, *words: int) -> np.random.Generator:
    """A generator seeded by (seed, stage, words...)."""
    return np.random.default_rng([seed, _STAGE_CODES.get(stage, 0), *words])


def unit_ids(items_nk: np.ndarray, sample_shard: np.ndarray) -> np.ndarray:
    """(N,) unit of every item: the index of its sorted shard set among the distinct ones."""
    shards_nk = np.sort(sample_shard[items_nk], axis=1)
    return np.unique(shards_nk, axis=0, return_inverse=True)[1].reshape(-1)


def epoch_order(units_n: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """(N,) item order of an epoch: units in random order, items shuffled within each unit."""
    n_units = int(units_n.max()) + 1 if len(units_n) else 0
    unit_rank = generator.permutation(n_units)
    return np.lexsort((generator.random(len(units_n)), unit_rank[units_n]))


def slot_chunk(n_items: int, slot: int, n_slots: int) -> slice:
    """The contiguous share of slot ``slot`` of ``n_slots`` in an epoch of ``n_items``."""
    if not 0 <= slot < n_slots:
        raise ValueError(f"slot {slot} out of range for {n_slots} slots")
    return slice(slot * n_items // n_slots, (slot + 1) * n_items // n_slots)


def shuffle_buffer(
    n: int, size: int, generator: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate a shuffle buffer of ``size`` over a stream of ``n`` items.

    Returns (out (n,): position in the input of each emitted item, fed (n,): how many inputs
    had entered the buffer when it was emitted). Fill to ``size``; then each new input
    replaces a random buffered item, which is emitted; at the end the rest leaves shuffled.
    """
    picks = generator.integers(0, size, max(n - size, 0)).tolist()
    buffer = list(range(min(size, n)))
    out, fed = [], []
    for t, j in zip(range(size, n), picks, strict=True):
        out.append(buffer[j])
        fed.append(t)
        buffer[j] = t
    rest = generator.permutation(len(buffer))
    out.extend(buffer[j] for j in rest)
    fed.extend([n] * len(buffer))
    return np.asarray(out, np.int64), np.asarray(fed, np.int64)


def batches_before(start_batch: int, worker: int, workers: int) -> int:
    """Batches worker ``worker`` produced before a rank's batch ``start_batch`` (round robin)."""
    return max(0, (start_batch - worker + workers - 1) // workers)


@dataclass(frozen=True)
class Feed:
    """Items entering the buffer: load their samples. ``items`` (M, K) sample ids."""

    items: np.ndarray


@dataclass(frozen=True)
class Emit:
    """The next item of the stream: one row of sample ids (K,) and its epoch."""

    item: np.ndarray
    epoch: int


def chunk_events(
    items_nk: np.ndarray,
    units_n: np.ndarray,
    skip: int,
    buffer: int,
    generator: np.random.Generator,
    epoch: int,
):
    """Feed / Emit events of one slot's chunk (in order), the first ``skip`` emits left out.

    Whole unit runs are fed at once (their shards are read once); the first feed holds the
    items the buffer holds at the first emit (after a skip: those not yet emitted).
    """
    n = len(items_nk)
    out, fed = shuffle_buffer(n, buffer, generator)
    run_end = np.r_[np.flatnonzero(np.diff(units_n)) + 1, n]  # end of each unit run
    frontier = int(fed[skip]) if skip < n else n
    if frontier:  # round up to the end of a unit run: each run is read in one go
        frontier = int(run_end[np.searchsorted(run_end, frontier - 1, side="right")])
    pending = np.setdiff1d(np.arange(frontier), out[:skip])
    if len(pending):
        yield Feed(items_nk[pending])
    for o in range(skip, n):
        while frontier < fed[o]:
            end = int(run_end[np.searchsorted(run_end, frontier, side="right")])
            yield Feed(items_nk[frontier:end])
            frontier = end
        yield Emit(items_nk[out[o]], epoch)
