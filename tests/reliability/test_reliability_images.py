"""Bad-input suite, images: corrupt, truncated, odd and huge files through the shard stage.

Every hypothesis example is one batch: a folder of generated files sharded with
``shard_dataset``. The batch must not raise, every good file must be stored (byte for byte
when it needs no conversion), every bad one logged in ``failures/shard/NAME.parquet`` with
its reason, and nothing lost or counted twice.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from reliability_figures import FIGURES
from reliability_images import ImageCase, image_cases, png_bomb
from reliability_oracle import Expect, account, batch, logged_by, shard_members, stored_sources

from dpt_core import storage
from dpt_core.data.images import ImageRejected, prepare_image
from dpt_core.data.stage import ShardConfig, shard_dataset

FAST, FULL = 30, 150  # examples (batches) of ~12 files each
SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                              HealthCheck.function_scoped_fixture],
}  # fmt: skip


def _write_cases(src: Path, cases: list[ImageCase]) -> dict[str, ImageCase]:
    """Write ``cases`` as ``p<person>/f<index>.<ext>``; returns {source URL: case}."""
    by_url = {}
    for i, case in enumerate(cases):
        path = src / f"p{i % 3}" / f"f{i:03d}.{case.ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(case.data)
        by_url[storage.join(str(src), f"p{i % 3}", path.name)] = case
    return by_url


def _check_stored(root: str, by_url: dict[str, ImageCase], stored: dict[str, str]) -> list[str]:
    """Pass-through inputs stored byte for byte; converted ones at their size, as RGB."""
    members = shard_members(root, "fuzz")
    problems = []
    for url, key in stored.items():
        case, sample = by_url[url], members[key]
        image_ext = "png" if "png" in sample else "jpg"
        if case.passthrough and sample[image_ext] != case.data:
            problems.append(f"{case.kind} {url}: stored bytes differ from the input")
        if case.size_wh is not None:
            with Image.open(io.BytesIO(sample[image_ext])) as img:
                if (img.size, img.mode) != (case.size_wh, "RGB"):
                    problems.append(f"{case.kind} {url}: stored {img.size} {img.mode}")
    return problems


def run_image_batch(tmp_path: Path, cases: list[ImageCase]) -> None:
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    by_url = _write_cases(work / "src", cases)
    root = str(work / "root")
    with batch("shard"):
        summary = shard_dataset("image-folder", str(work / "src"), root, "fuzz",
                                ShardConfig(max_count=5), person_from_folder=True)  # fmt: skip
    stored = stored_sources(root, "fuzz")
    expected = {u: Expect(c.expect, c.reasons, c.kind) for u, c in by_url.items()}
    problems = account("shard", expected, stored, logged_by(root, "shard", "fuzz", "source"))
    problems += _check_stored(root, by_url, stored)
    assert summary.written + summary.rejected == len(cases)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "examples", [FAST, pytest.param(FULL, marks=pytest.mark.slow)], ids=["fast", "full"]
)
def test_every_image_is_stored_or_logged(tmp_path: Path, examples: int) -> None:
    @settings(max_examples=examples, **SETTINGS)
    @given(st.lists(image_cases(), min_size=1, max_size=16))
    def check(cases: list[ImageCase]) -> None:
        run_image_batch(tmp_path, cases)

    check()


def test_decompression_bomb_is_refused_before_decoding() -> None:
    """A 64-megapixel PNG of ~60 KB is refused from its header (no 64 MB allocation)."""
    data = png_bomb()
    assert len(data) < 200_000
    with pytest.raises(ImageRejected) as info:
        prepare_image(data)
    assert info.value.reason == "decompression_bomb"
    assert "64000000" in str(info.value) or "8000x8000" in str(info.value)
    FIGURES.add("untrusted", "decompression_bombs_refused")
