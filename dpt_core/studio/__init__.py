"""The studio: synthetic people with exact ground truth (RGB, IUV, mask, depth, full texture).

In-memory fixtures for other stages::

    from dpt_core.studio import render_samples
    batch = render_samples(identities=2, poses=3, views=4, size=64, seed=0)  # StudioBatch

Data sets on disk: ``generate_dataset(out_url, identities, poses, views, ...)`` (``dpt studio
generate``); contact sheets: ``write_preview`` (``dpt studio preview``).
"""

from dpt_core.studio.batch import StudioBatch
from dpt_core.studio.identity import Identity, make_identity
from dpt_core.studio.preview import contact_sheet, iuv_to_rgb, write_preview
from dpt_core.studio.render import identity_textures, render_samples, render_scenes
from dpt_core.studio.scenes import Scene, iter_scenes, make_scene, sample_key, scene_grid
from dpt_core.studio.stage import generate_dataset
from dpt_core.studio.textures import identity_atlas

__all__ = [
    "Identity",
    "Scene",
    "StudioBatch",
    "contact_sheet",
    "generate_dataset",
    "identity_atlas",
    "identity_textures",
    "iter_scenes",
    "iuv_to_rgb",
    "make_identity",
    "make_scene",
    "render_samples",
    "render_scenes",
    "sample_key",
    "scene_grid",
    "write_preview",
]
