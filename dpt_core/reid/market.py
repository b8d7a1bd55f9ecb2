"""Market-1501 file names, and the code reserved for generated images.

A Market-1501 image is ``PPPP_cCsS_FFFFFF_NN.jpg``: person ``PPPP`` (``-1`` junk, ``0000``
distractor), camera ``C`` (1..6), sequence ``S`` (1..6 in the real data set), frame ``FFFFFF``,
box ``NN`` (01, 02, ... per frame).

**Generated images** keep their source image's person and camera and take the reserved
sequence ``s9``: ``PPPP_cCs9_JJJJJJ_01.jpg`` where ``JJJJJJ`` counts the identity's generated
images from 000000. Why the sequence and not the camera: common loaders (torchreid,
fast-reid) parse ``([-\\d]+)_c(\\d)`` and assert ``1 <= camera <= 6``, so a camera code like
``c7`` would stop them; a sequence digit is parsed by none of them and matches the pattern, so
a generated image reads as a normal training image of its person and camera, while
``is_generated`` (or the ``s9``) tells it from a real one. A source tree that already uses
``s9`` is refused, so the code stays unambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dpt_core.data.layouts.market1501 import parse_market_name

TRAIN_FOLDER, GALLERY_FOLDER, QUERY_FOLDER = "bounding_box_train", "bounding_box_test", "query"
FOLDERS = (TRAIN_FOLDER, GALLERY_FOLDER, QUERY_FOLDER)
JUNK, DISTRACTOR = "-1", "0000"
NOT_IDENTITIES = frozenset({JUNK, DISTRACTOR})
CAMERAS = range(1, 7)
GENERATED_SEQUENCE = 9
GENERATED_BOX = 1
MAX_INDEX = 999_999
_PERSON = re.compile(r"^\d{4}$")


@dataclass(frozen=True)
class MarketName:
    """The fields of a Market-1501 file name (``person`` stays a string: "0002", "-1")."""

    person: str
    camera: int
    sequence: int
    frame: int
    box: int

    @property
    def filename(self) -> str:
        """``PPPP_cCsS_FFFFFF_NN.jpg``."""
        return format_name(self.person, self.camera, self.sequence, self.frame, self.box)

    @property
    def generated(self) -> bool:
        return self.sequence == GENERATED_SEQUENCE


def parse_name(filename: str) -> MarketName | None:
    """``"0002_c1s1_000451_03.jpg"`` -> MarketName; None when the name is not Market-1501's."""
    fields = parse_market_name(filename.rsplit("/", 1)[-1])
    if fields is None:
        return None
    return MarketName(
        fields["person"],
        int(fields["camera"]),
        int(fields["sequence"]),
        int(fields["frame"]),
        int(fields["box"]),
    )


def format_name(person: str, camera: int, sequence: int, frame: int, box: int) -> str:
    """``PPPP_cCsS_FFFFFF_NN.jpg``; ValueError naming the field that does not fit."""
    if not (_PERSON.match(person) or person == JUNK):
        raise ValueError(f"person: expected 4 digits or -1, got {person!r}")
    for field, value, top in (("camera", camera, 9), ("sequence", sequence, 9),
                              ("frame", frame, MAX_INDEX), ("box", box, 99)):  # fmt: skip
        if not 0 <= int(value) <= top:
            raise ValueError(f"{field}: expected 0..{top}, got {value!r}")
    return f"{person}_c{camera}s{sequence}_{frame:06d}_{box:02d}.jpg"


def generated_name(person: str, camera: int, index: int) -> str:
    """Name of the ``index``-th generated image of ``person`` from a camera-``camera`` source."""
    if person in NOT_IDENTITIES:
        raise ValueError(f"person: {person!r} is not an identity (junk / distractor)")
    if camera not in CAMERAS:
        raise ValueError(f"camera: expected 1..6, got {camera!r}")
    return format_name(person, camera, GENERATED_SEQUENCE, index, GENERATED_BOX)


def is_generated(filename: str) -> bool:
    """Whether ``filename`` is a Market-1501 name with the reserved generated sequence."""
    parsed = parse_name(filename)
    return parsed is not None and parsed.generated


def person_code(number: int) -> str:
    """``7 -> "0007"``: the 4-digit person field for a 1-based identity number."""
    if not 1 <= number <= 9999:
        raise ValueError(f"person number: expected 1..9999, got {number}")
    return f"{number:04d}"
