"""The shard-dataset stage and the shard format every stage reads; make-pairs beside it.

Modules: ``stage`` (the shard-level work: plan, write and finalise a data set's shards), ``cli``
(``dpt shard``, ``dpt pairs``, ``dpt ls``), and its helpers ``planning``, ``plan_store`` and
``shard_writer``; ``layouts`` (readers), ``images`` and ``png_check`` (decode, check,
normalise); the shard format: ``shards`` (the tar and manifest I/O every stage uses),
``tar_format`` (a shard's member bytes), ``manifest`` (schema, stats); ``pairs``
(source/target pairs: the make-pairs stage) and ``heldout`` (benchmark pairs).
"""

from dpt_core.data.shards import (
    ShardInfo,
    iter_shard,
    read_manifest,
    register_webdataset_opener,
    shard_manifest_url,
    shard_name,
    shard_urls,
    write_manifest,
    write_shard,
)

__all__ = [
    "ShardInfo",
    "iter_shard",
    "read_manifest",
    "register_webdataset_opener",
    "shard_manifest_url",
    "shard_name",
    "shard_urls",
    "write_manifest",
    "write_shard",
]
