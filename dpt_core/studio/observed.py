"""Observed (appearance) atlases of studio people: the texture-completion ground truth when clothes
and hair are labelled as the body beneath them (``clothing="beneath"``, as DensePose does).

The studio's ``atlases/PERSON.png`` is the skin-and-garment surface of the body; under a skirt,
a jacket or long hair that is not what a camera sees at those body points, so scoring a completed
texture against it penalises copying the visible skirt correctly. ``write_observed_atlases`` writes
``PERSON.png`` as RGBA at tile size n: RGB the mean colour of each texel over every sample of the
person that sees it (``metrics.observed_atlas``), alpha 255 where some sample sees it. ``evaluate``
scores only those texels (``EvalOptions.atlases_url``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable

import cv2
import numpy as np
import pyarrow.parquet as pq

from dpt_core import storage
from dpt_core.iuv import read_iuv
from dpt_core.metrics.texture import observed_atlas


def _read_rgb(url: str) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(storage.read_bytes(url), np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{url}: not a decodable image")
    return np.ascontiguousarray(bgr[..., ::-1])


def write_observed_atlases(
    studio_url: str,
    out_url: str,
    n: int,
    persons: Iterable[str] | None = None,
    skip_poses: Collection[str] = (),
) -> list[str]:
    """Write ``out_url/PERSON.png`` (RGBA, tile size n) for the studio folder's people (all, or
    ``persons``) from their samples in poses other than ``skip_poses``; returns the person ids
    written. ValueError for a person the studio lacks."""
    table = pq.read_table(
        storage.join(studio_url, "manifest.parquet"), columns=["person_id", "image", "iuv", "pose"]
    )
    views: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in table.to_pylist():
        if row["pose"] not in skip_poses:
            views[row["person_id"]].append((row["image"], row["iuv"]))
    wanted = sorted(views) if persons is None else sorted(set(persons))
    missing = [p for p in wanted if p not in views]
    if missing:
        raise ValueError(f"persons: not in {studio_url}: {missing[:5]}")
    for person in wanted:
        pairs = (
            (_read_rgb(storage.join(studio_url, image)), read_iuv(storage.join(studio_url, iuv)))
            for image, iuv in views[person]
        )
        atlas, observed = observed_atlas(pairs, n)
        alpha = np.where(observed, 255, 0).astype(np.uint8)[..., None]
        ok, png = cv2.imencode(".png", np.concatenate((atlas[..., ::-1], alpha), axis=2))
        if not ok:
            raise ValueError(f"{person}: PNG encoding failed")
        storage.write_bytes(storage.join(out_url, f"{person}.png"), png.tobytes())
    return wanted
