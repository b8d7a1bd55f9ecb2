"""Data plane: dataset layouts -> WebDataset shards + Parquet manifests, and pairs.

Submodules: ``layouts`` (readers), ``images`` and ``png_check`` (decode, check, normalise),
``shards`` (the tar and manifest I/O every stage uses; ``tar_format``: a shard's member bytes),
``manifest`` (schema, stats),
``planning``, ``shard_writer`` and ``sharding`` (the shard-dataset stage), ``pairs``
(source/target pairs) and ``cli`` (``dpt shard``, ``dpt pairs``, ``dpt ls``).
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
