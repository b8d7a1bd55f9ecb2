"""Hypothesis strategies for names and text files: Market-1501 names, DeepFashion partition
files, PATN annotation and pair CSVs, each mixing well-formed and malformed entries.

Oracles here are written independently of the layouts' own parsers (plain string checks,
ASCII digits only), so a parser that accepts too much or too little is caught.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

DIGITS = "0123456789"
STATUSES = ("train", "query", "gallery")
# No line or paragraph separators (str.splitlines would split on them) and no whitespace
# inside a field: a junk line's field count is then known exactly.
_FIELD_CHARS = st.characters(
    codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp", "Zs"), exclude_characters="\x85"
)
fields = st.text(_FIELD_CHARS, min_size=1, max_size=12)


def _digits(text: str, n: int) -> bool:
    return len(text) == n and all(c in DIGITS for c in text)


def market_name_ok(stem: str) -> bool:
    """``PPPP_cCsS_FFFFFF_NN`` with ASCII digits, person ``-1`` allowed."""
    parts = stem.split("_")
    if len(parts) != 4:
        return False
    person, cam_seq, frame, box = parts
    cam_ok = len(cam_seq) == 4 and cam_seq[0] == "c" and cam_seq[2] == "s"
    cam_ok = cam_ok and cam_seq[1] in DIGITS and cam_seq[3] in DIGITS
    person_ok = person == "-1" or _digits(person, 4)
    return person_ok and cam_ok and _digits(frame, 6) and _digits(box, 2)


@st.composite
def market_stems(draw) -> str:
    """A valid Market-1501 stem, often mutated (a character dropped, inserted or replaced)."""
    person = draw(st.sampled_from(["-1", "0000"]) | st.integers(1, 1501).map("{:04d}".format))
    stem = (
        f"{person}_c{draw(st.integers(1, 6))}s{draw(st.integers(1, 6))}_"
        f"{draw(st.integers(0, 999999)):06d}_{draw(st.integers(0, 99)):02d}"
    )
    for _ in range(draw(st.integers(0, 2))):
        pos = draw(st.integers(0, len(stem)))
        char = draw(st.sampled_from([*"0123456789_cs-x. ", "٣", "１", "é"]))
        op = draw(st.sampled_from(["drop", "insert", "replace"]))
        if op == "drop" and stem:
            stem = stem[:pos] + stem[pos + 1 :]
        elif op == "insert":
            stem = stem[:pos] + char + stem[pos:]
        else:
            stem = stem[:pos] + char + stem[pos + 1 :]
    return stem


@st.composite
def junk_lines(draw, n_fields_ok: int, ok_last: tuple[str, ...] = ()) -> str:
    """A line that is NOT ``n_fields_ok`` whitespace-separated fields ending in ``ok_last``."""
    parts = draw(st.lists(fields, min_size=1, max_size=5))
    if len(parts) == n_fields_ok and (not ok_last or parts[-1] in ok_last):
        parts.append("extra")
    return " ".join(parts)


def annotation_ok(line: str) -> bool:
    """``name:[numbers]:[numbers]`` (the PATN annotation format)."""
    parts = line.split(":")
    if len(parts) != 3:
        return False
    try:
        ys, xs = json.loads(parts[1]), json.loads(parts[2])
    except ValueError:
        return False
    return all(isinstance(v, list) and all(type(i) in (int, float) for i in v) for v in (ys, xs))


@st.composite
def bad_annotation_lines(draw) -> str:
    """Malformed annotation lines: wrong colon count, not JSON, JSON but not int lists."""
    name = draw(fields).replace(":", "_")
    kind = draw(st.sampled_from(["colons", "not_json", "not_list", "not_ints"]))
    if kind == "colons":
        line = ":".join(
            draw(st.lists(fields, min_size=1, max_size=5).filter(lambda p: len(p) != 3))
        )
    elif kind == "not_json":
        line = f"{name}: [1, 2: [3]"
    elif kind == "not_list":
        value = draw(st.sampled_from(['{"a": 1}', "5", '"text"', "null"]))
        line = f"{name}: {value}: [1, 2]"
    else:
        value = draw(st.sampled_from(['["a", 1]', "[[1], 2]", '[{"x": 1}]', "[null]"]))
        line = f"{name}: [1, 2]: {value}"
    if annotation_ok(line) or not line.strip():
        line = f"{name}: oops"
    return line
