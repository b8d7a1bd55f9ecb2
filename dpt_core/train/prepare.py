"""A ready-to-train studio data set: every stage before ``train``, in one call.

``prepare_studio`` renders a studio data set to ``ROOT/sources/NAME`` (once) and runs
shard-dataset, extract-densepose (source ``studio``: the ground-truth IUV), precompute-textures
(at the training scale's ``atlas_n``) and make-pairs with the stages' own library functions,
each of which skips what is already committed. Used by ``dpt train --prepare-studio``, the tests
and the benchmark; the Prefect flows run the same stages one by one.
"""

from __future__ import annotations

import logging

from dpt_core import storage
from dpt_core.data.pairs import make_pairs
from dpt_core.data.stage import ShardConfig, shard_dataset
from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.stage import extract_dataset
from dpt_core.studio import generate_dataset
from dpt_core.textures import precompute_textures

logger = logging.getLogger(__name__)


def prepare_studio(
    root_url: str,
    name: str = "studio",
    identities: int = 8,
    poses: int = 4,
    views: int = 4,
    size: int = 128,
    atlas_n: int = 32,
    seed: int = 0,
    shard_size: int = 64,
    background: bool = True,
) -> dict:
    """Make ``ROOT/{datasets,densepose,textures,pairs}/NAME`` for a studio set; returns counts.

    Identities are split train/test by the studio (the last 20 % are test persons).
    """
    source = storage.join(root_url, "sources", name)
    if not storage.exists(storage.join(source, "studio.json")):
        generate_dataset(
            source, identities, poses, views, size=size, seed=seed, background=background
        )
    shards = shard_dataset("studio", source, root_url, name, ShardConfig(max_count=shard_size))
    extract_dataset(root_url, name, ExtractOptions(source="studio"))
    textures = precompute_textures(root_url, name, n=atlas_n, source="studio")
    pairs = make_pairs(root_url, name)
    logger.info("studio %s ready under %s: %s pairs", name, root_url, pairs.pairs)
    return {
        "root": root_url,
        "dataset": name,
        "samples": shards.written,
        "shards": shards.shards,
        "textures": sum(t.get("count", 0) for t in textures),
        "pairs": dict(pairs.pairs),
    }
