"""The render-batch stage: a trained generator turns (source, target pose) requests into images.

Modules: ``job`` (the job, constants, output keys), ``plan`` (requests, ``render.json``),
``inputs`` (source and target indexes), ``stage`` (shard-level rendering), ``cli`` (``dpt render``).

Layout under ``ROOT/renders/RUN/NAME``::

    render.json            the resolved job: checkpoint (URL, sha256, step), scale, inputs
    requests.parquet       every request (source_key, target_key) with its output key and shard
    NAME-00000.tar         KEY.png (blended) [+ KEY.pred.png, KEY.warp.png, KEY.tex.png]
    NAME-00000.parquet     one row per rendered sample (MANIFEST_SCHEMA)

Sources (image + IUV) come from data set ``dataset``; target IUVs from ``pose_bank`` (another
data set's IUV shards: any person into any pose) or from ``dataset`` itself. An output shard
whose marker matches its fingerprint (checkpoint sha256, settings, its requests, the markers of
the input shards it reads) is skipped before anything is decoded. Missing keys and unusable
inputs become rows of ``failures/render/NAME.parquet``; the rest of the shard is rendered.
"""

from dpt_core.render.inputs import InputIndex, decode_target_iuv, fetch_members, input_indexes
from dpt_core.render.job import (
    BRANCHES,
    MANIFEST_SCHEMA,
    OUTPUT_KEY_SEPARATOR,
    RENDER_VERSION,
    REQUESTS_SCHEMA,
    STAGE,
    RenderJob,
    RenderSummary,
    output_key,
    run_of_checkpoint,
    shard_url,
)
from dpt_core.render.plan import (
    checkpoint_identity,
    pairs_requests,
    plan_render,
    pose_bank_requests,
    read_render_info,
    read_requests,
    requests_table,
)
from dpt_core.render.stage import (
    load_render_model,
    png_rgb,
    render_pairs,
    render_requests,
    render_shard,
    to_uint8_hwc,
)

__all__ = [
    "BRANCHES",
    "MANIFEST_SCHEMA",
    "OUTPUT_KEY_SEPARATOR",
    "RENDER_VERSION",
    "REQUESTS_SCHEMA",
    "STAGE",
    "InputIndex",
    "RenderJob",
    "RenderSummary",
    "checkpoint_identity",
    "decode_target_iuv",
    "fetch_members",
    "input_indexes",
    "load_render_model",
    "output_key",
    "pairs_requests",
    "plan_render",
    "png_rgb",
    "pose_bank_requests",
    "read_render_info",
    "read_requests",
    "render_pairs",
    "render_requests",
    "render_shard",
    "requests_table",
    "run_of_checkpoint",
    "shard_url",
    "to_uint8_hwc",
]
