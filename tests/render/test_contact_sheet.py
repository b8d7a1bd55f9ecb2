"""The contact sheet PNG: one row per sample, the report's columns, atlas at 2:3."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dpt_core.evaluate.contact_sheet import GAP, HEADER, contact_sheet_png


def _png(colour: int, hw: tuple[int, int]) -> bytes:
    return cv2.imencode(".png", np.full((*hw, 3), colour, np.uint8))[1].tobytes()


def test_contact_sheet_places_every_cell() -> None:
    row = {"source": _png(10, (64, 64)), "target": _png(20, (64, 64)),
           "predictive": _png(30, (64, 64)), "texture": _png(40, (96, 64))}  # fmt: skip
    sheet = cv2.imdecode(np.frombuffer(contact_sheet_png([row, row], height=32), np.uint8), 1)
    widths = [32, 32, 32, 21]  # texture keeps 2:3; warped/blended absent from every row: left out
    assert sheet.shape == (HEADER + 2 * (32 + GAP) + GAP, sum(widths) + GAP * 5, 3)
    x = GAP
    for colour, width in zip((10, 20, 30, 40), widths, strict=True):
        for r in range(2):
            y = HEADER + GAP + r * (32 + GAP)
            assert (sheet[y : y + 32, x : x + width] == colour).all()
        x += width + GAP
    with pytest.raises(ValueError, match="no sample"):
        contact_sheet_png([])
