"""Fixtures of the render / eval tests: a tiny studio root with a pose bank and a checkpoint.

The root holds data set ``studio`` (3 identities × 2 poses × 3 views, 64 px; identity 2 is the
test split) and data set ``bank`` (another seed, 48 px) as a pose bank, both sharded with
their studio IUVs extracted, the studio pairs, and run ``tiny-run``: a randomly initialised
tiny generator saved as a training checkpoint, its config.yaml and a metrics.parquet.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from render_setup import BANK, DATASET, RUN, save_tiny_run

from dpt_core import storage
from dpt_core.data.pairs import make_pairs
from dpt_core.data.stage import ShardConfig, shard_dataset
from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.stage import extract_dataset
from dpt_core.studio import generate_dataset


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> SimpleNamespace:
    """The root described in the module docstring (built once per session, ≈ 3 s)."""
    base = tmp_path_factory.mktemp("render")
    root, studio_out, bank_out = str(base / "root"), base / "studio", base / "bank_src"
    generate_dataset(str(studio_out), identities=3, poses=2, views=3, size=64, seed=0)
    generate_dataset(str(bank_out), identities=1, poses=2, views=2, size=48, seed=7)
    for src, name in ((studio_out, DATASET), (bank_out, BANK)):
        shard_dataset("studio", str(src), root, name, ShardConfig(max_count=8))
        extract_dataset(root, name, ExtractOptions(source="studio"))
    make_pairs(root, DATASET, max_per_person=6)
    checkpoint = save_tiny_run(root)
    return SimpleNamespace(
        root=root,
        studio=studio_out,
        bank=bank_out,
        checkpoint=checkpoint,
        run_url=storage.join(root, "runs", RUN),
    )
