"""The deterministic item order: units, slots, shuffle buffer, fast-forward."""

from __future__ import annotations

import numpy as np
import pytest

from dpt_core.train import order


def test_unit_ids_group_items_by_shard_set() -> None:
    shard_of = np.array([0, 0, 1, 1, 2])
    items = np.array([[0, 1], [2, 0], [0, 2], [3, 4], [4, 3], [1, 1]])
    units = order.unit_ids(items, shard_of)
    # shard sets: {0}, {0,1}, {0,1}, {1,2}, {1,2}, {0}
    assert units[1] == units[2] and units[3] == units[4] and units[0] == units[5]
    assert len(set(units.tolist())) == 3


def test_epoch_order_keeps_units_contiguous_and_is_seeded() -> None:
    units = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 2])
    first = order.epoch_order(units, order.rng(0, "predictive", 0))
    assert sorted(first.tolist()) == list(range(10))
    runs = units[first]
    assert np.count_nonzero(np.diff(runs)) == 2  # three runs, one per unit
    again = order.epoch_order(units, order.rng(0, "predictive", 0))
    np.testing.assert_array_equal(first, again)
    other_epochs = [order.epoch_order(units, order.rng(0, "predictive", e)) for e in range(1, 6)]
    assert any(not np.array_equal(first, o) for o in other_epochs)


def test_slot_chunks_partition_the_epoch() -> None:
    chunks = [order.slot_chunk(10, s, 4) for s in range(4)]
    assert [(c.start, c.stop) for c in chunks] == [(0, 2), (2, 5), (5, 7), (7, 10)]
    with pytest.raises(ValueError, match="slot 4"):
        order.slot_chunk(10, 4, 4)


@pytest.mark.parametrize(("n", "size"), [(50, 8), (5, 8), (8, 8), (1, 1)])
def test_shuffle_buffer_is_a_bounded_permutation(n: int, size: int) -> None:
    out, fed = order.shuffle_buffer(n, size, np.random.default_rng(0))
    assert sorted(out.tolist()) == list(range(n))
    assert np.all(out < fed)  # an item leaves only after it entered
    assert np.all(np.diff(fed) >= 0) and fed[-1] == n
    assert np.all(fed - np.arange(n) <= size)  # at most `size` items wait in the buffer


def test_batches_before_round_robin() -> None:
    # batch j comes from worker j % 3; before batch 7 workers produced 3, 2, 2 batches
    assert [order.batches_before(7, w, 3) for w in range(3)] == [3, 2, 2]
    assert [order.batches_before(0, w, 3) for w in range(3)] == [0, 0, 0]
    assert order.batches_before(5, 0, 1) == 5


def _emits_and_fed(events) -> tuple[list[tuple[int, ...]], set[tuple[int, ...]]]:
    emitted, fed = [], set()
    for event in events:
        if isinstance(event, order.Feed):
            fed.update(map(tuple, event.items.tolist()))
        else:
            assert tuple(event.item.tolist()) in fed, "emitted before it was fed"
            emitted.append(tuple(event.item.tolist()))
    return emitted, fed


@pytest.mark.parametrize("skip", [0, 1, 9, 23, 40])
def test_chunk_events_fast_forward_equals_the_tail(skip: int) -> None:
    items = np.arange(40 * 2).reshape(40, 2)
    units = np.repeat(np.arange(5), 8)

    def events(skip: int):
        return order.chunk_events(items, units, skip, 6, np.random.default_rng(3), epoch=0)

    full, _ = _emits_and_fed(events(0))
    assert sorted(full) == [tuple(r) for r in items.tolist()]
    tail, fed = _emits_and_fed(events(skip))
    assert tail == full[skip:]
    assert set(full[:skip]).isdisjoint(fed - set(full[skip:]))  # nothing skipped is loaded


def test_feeds_come_in_unit_runs() -> None:
    items = np.arange(12).reshape(12, 1)
    units = np.repeat([0, 1, 2], 4)
    feeds = [
        e
        for e in order.chunk_events(items, units, 0, 2, np.random.default_rng(0), 0)
        if isinstance(e, order.Feed)
    ]
    assert [f.items[:, 0].tolist() for f in feeds] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
