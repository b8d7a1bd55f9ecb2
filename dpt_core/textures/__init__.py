"""The precompute-textures stage: partial UV texture atlases + visibility per image.

Modules: ``stage`` (shard-level work, the texture file format), ``cli`` (``dpt textures``).
"""

from dpt_core.textures.stage import (
    MANIFEST_SCHEMA,
    PART_COLUMNS,
    STAGE,
    TEXTURES_VERSION,
    dataset_shard_url,
    decode_texture,
    encode_texture,
    iuv_shard_url,
    part_visibility,
    precompute_textures,
    precompute_textures_shard,
    texture_shard_url,
)

__all__ = [
    "MANIFEST_SCHEMA",
    "PART_COLUMNS",
    "STAGE",
    "TEXTURES_VERSION",
    "dataset_shard_url",
    "decode_texture",
    "encode_texture",
    "iuv_shard_url",
    "part_visibility",
    "precompute_textures",
    "precompute_textures_shard",
    "texture_shard_url",
]
