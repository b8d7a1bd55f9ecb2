"""Contact sheets: one PNG showing, per sample, source | target | each branch | completed atlas.

The same columns as the HTML report's grid (``report.GRID_COLUMNS``), as one image a README or a
results page can embed. Each cell is scaled (nearest neighbour) to ``height`` pixels; the atlas
keeps its 2:3 aspect ratio. A header row names the columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from dpt_core.evaluate.report import GRID_COLUMNS

GAP = 2
HEADER = 18


def _decode(png: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("contact sheet: a cell is not a decodable PNG")
    return bgr


def _cell(png: bytes | None, height: int, width: int) -> np.ndarray:
    if not png:
        return np.full((height, width, 3), 255, np.uint8)
    image = _decode(png)
    scaled = cv2.resize(image, (width, height), interpolation=cv2.INTER_NEAREST)
    return scaled


def contact_sheet_png(grid: Sequence[dict], height: int = 128) -> bytes:
    """PNG bytes of the grid rows (dicts of PNG bytes keyed by column, as ``evaluate`` builds
    them); columns no row has are left out. ValueError on an empty grid."""
    if not grid:
        raise ValueError("grid: no sample to show")
    columns = [c for c in GRID_COLUMNS if any(r.get(c) for r in grid)]
    widths = [height * 2 // 3 if c == "texture" else height for c in columns]
    total_w = sum(widths) + GAP * (len(columns) + 1)
    sheet = np.full((HEADER + (height + GAP) * len(grid) + GAP, total_w, 3), 255, np.uint8)
    x = GAP
    for column, width in zip(columns, widths, strict=True):
        cv2.putText(sheet, column[:12], (x + 2, HEADER - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 1, cv2.LINE_AA)  # fmt: skip
        for r, row in enumerate(grid):
            y = HEADER + GAP + r * (height + GAP)
            sheet[y : y + height, x : x + width] = _cell(row.get(column), height, width)
        x += width + GAP
    ok, encoded = cv2.imencode(".png", sheet, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError("contact sheet: PNG encoding failed")
    return encoded.tobytes()
