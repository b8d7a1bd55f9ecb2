"""Bad-input suite, make-pairs: PATN pair CSVs with one-field rows, empty names, unknown
names and control characters. Every row is a pair in ``pairs/NAME/SPLIT.parquet`` or a row of
``failures/pairs/NAME.parquet``, never both, never neither."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability_oracle import GOOD, Expect, account, batch, logged_by
from test_reliability_images import SETTINGS
from test_reliability_layouts import EXAMPLES, PNG, _shard, _workdir

from dpt_core import storage

_PATN_IMAGES = ("fashionWOMENDressesid0000000202_1front.jpg",
                "fashionMENTeesid0000008001_2side.jpg", "plain.jpg")  # fmt: skip
_pair_names = st.sampled_from([*_PATN_IMAGES, "missing.jpg", "bad\x01name.jpg", "__meta.jpg"])


@st.composite
def pairs_csv_rows(draw) -> list[tuple[int, str, str | None]]:
    """Unique (line, from, to) rows; ``to`` None writes a one-field row."""
    rows = draw(st.lists(st.tuples(_pair_names, _pair_names | st.none()), max_size=8, unique=True))
    return [(line, a, b) for line, (a, b) in enumerate(rows, start=2)]


def _pairs_expectations(url: str, rows) -> dict[str, Expect]:
    expected = {}
    for line, source, target in rows:
        if target is None:
            expected[f"{url}:{line}"] = Expect("bad", frozenset({"bad_pairs_row"}), "pairs_row")
        elif {source, target} - set(_PATN_IMAGES):
            reasons = frozenset({"unknown_key", "bad_name"})
            expected[f"{source}>{target}"] = Expect("bad", reasons, "pairs_unknown")
        else:
            expected[f"{source}>{target}"] = Expect(GOOD, kind="pairs_row")
    return expected


@pytest.mark.parametrize("examples", EXAMPLES, ids=["fast", "full"])
def test_patn_pairs_files(tmp_path: Path, examples: int) -> None:
    from dpt_core.data.layouts.patn import patn_key
    from dpt_core.data.pairs import import_patn_pairs, read_pairs

    @settings(max_examples=examples, **SETTINGS)
    @given(pairs_csv_rows(), pairs_csv_rows())
    def check(train_rows, test_rows):
        work = _workdir(tmp_path)
        src, root = work / "fashion", str(work / "root")
        for name in _PATN_IMAGES:
            (src / "train").mkdir(parents=True, exist_ok=True)
            (src / "train" / name).write_bytes(PNG)
        expected, stored = {}, {}
        for split, rows in (("train", train_rows), ("test", test_rows)):
            lines = ["from,to"] + [a if b is None else f"{a},{b}" for _, a, b in rows]
            (src / f"fasion-resize-pairs-{split}.csv").write_text("\n".join(lines) + "\n")
            url = storage.join(str(src), f"fasion-resize-pairs-{split}.csv")
            expected |= _pairs_expectations(url, rows)
        _shard("patn-pairs", src, root)
        with batch("pairs"):
            import_patn_pairs(str(src), root, "fuzz")
        keys = {patn_key(n): n for n in _PATN_IMAGES}
        for split in ("train", "test"):
            table = read_pairs(root, "fuzz", split)
            for s, t in zip(table.column("source_key").to_pylist(),
                            table.column("target_key").to_pylist(), strict=True):  # fmt: skip
                stored[f"{keys[s]}>{keys[t]}"] = True
        logged = logged_by(root, "pairs", "fuzz", "key")
        logged |= {f.source: [f.reason] for f in storage.read_failures(root, "pairs", "fuzz")
                   if not f.key}  # fmt: skip
        logged.pop("", None)
        problems = account("pairs", expected, stored, logged)
        assert not problems, "\n".join(problems)

    check()
