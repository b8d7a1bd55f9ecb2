"""Point-splat renderer with an exact z-buffer: RGB, IUV, mask and depth fall out of one pass.

Per sample: forward kinematics poses the skeleton; every surface's template points (denser than
the pixels they cover) go through one 3×4 matrix per surface (part frame → image), broadcast over
fixed-size blocks; a single ``scatter_reduce(amin)`` on a float64 key = quantised depth · 2^24 +
point id keeps the nearest point per pixel. The winners' ids give part, (U, V), normal and depth
exactly, and the colour is the identity's atlas texel at the *quantised* (I, U, V), so gathering
the atlas through the written IUV reproduces unlit body pixels bit for bit.

Hair and loose clothes (skirts, open jackets) are surfaces with part 0. How their pixels are
labelled is a choice (``clothing``): ``"beneath"`` (default) gives them the (I, U, V) of the body
surface behind them along the camera ray, as DensePose does on real photos (its COCO annotators
painted clothes as the part beneath, so a skirt comes out as upper legs), leaving I = 0 only where
no body lies behind (a flared hem, hair beside the head); measured on 16 identities × 16 views at
128 px, 89 % of person pixels get I > 0 this way against 68 % with ``"none"``, which keeps I = 0 on
every hair and clothes pixel. The RGB is the same either way; only under ``"none"`` does every
I > 0 pixel show its own atlas texel.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from dpt_core.atlas import DEFAULT_N
from dpt_core.studio.background import background_rgb
from dpt_core.studio.batch import StudioBatch
from dpt_core.studio.identity import Identity
from dpt_core.studio.parts import SURFACES
from dpt_core.studio.projection import aim_camera, surface_transforms, template_spacing
from dpt_core.studio.scenes import Scene, scene_grid
from dpt_core.studio.skeleton import forward_kinematics
from dpt_core.studio.templates import TemplateBank, level_for_spacing, template_bank
from dpt_core.studio.textures import extras_texture, identity_atlas

SPLAT_SPACING_PX = 0.7  # template spacing in pixels at the nearest depth: <= 1/sqrt(2), no holes
DEPTH_SCALE = float(1 << 16)  # z-buffer depth quantum: 1/65536 m
ID_SCALE = float(1 << 24)


@dataclass(frozen=True, eq=False)
class IdentityTextures:
    """An identity's atlas (6n, 4n, 3) and extras textures, plus one flat lookup table."""

    atlas_rgb: np.ndarray
    extras_rgb: np.ndarray  # (n_extras, T, T, 3)
    table: torch.Tensor  # (6n*4n + n_extras*T*T,) int32 packed RGB: atlas, then extras texels

    @property
    def n(self) -> int:
        return self.atlas_rgb.shape[0] // 6


def identity_textures(identity: Identity, n: int = DEFAULT_N) -> IdentityTextures:
    """Build the identity's textures (a few tens of ms at n = 200)."""
    atlas, extras = identity_atlas(identity, n), extras_texture(identity)
    rgb = np.concatenate([atlas.reshape(-1, 3), extras.reshape(-1, 3)])
    rgba = np.concatenate([rgb, np.zeros((len(rgb), 1), np.uint8)], 1)
    return IdentityTextures(atlas, extras, torch.from_numpy(rgba.view(np.int32).ravel()))


def _zbuffer(bank: TemplateBank, blocks, a, t, hw: tuple[int, int]) -> torch.Tensor:
    """Nearest-point keys (H, W) float64 (inf where nothing lands) of the given point blocks."""
    h, w = hw
    surf = bank.block_surface[blocks]
    a_blk, t_blk = a[surf], t[surf]
    px, py, pz = bank.points[blocks].unbind(1)
    rows = []
    for r in range(3):
        v = px * a_blk[:, r, 0:1]
        v.addcmul_(py, a_blk[:, r, 1:2]).addcmul_(pz, a_blk[:, r, 2:3]).add_(t_blk[:, r : r + 1])
        rows.append(v)
    x, y, z = rows
    inv = z.reciprocal()
    col = x.mul_(inv).clamp_(-1, w).floor_().add_(1)  # out-of-image points land on a border
    row = y.mul_(inv).clamp_(-1, h).floor_().add_(1)
    pix = row.mul_(w + 2).add_(col).to(torch.int64).view(-1)
    key = z.double().mul_(DEPTH_SCALE).floor_().mul_(ID_SCALE).add_(bank.ids[blocks]).view(-1)
    buf = torch.full(((h + 2) * (w + 2),), float("inf"), dtype=torch.float64)
    buf.scatter_reduce_(0, pix, key, reduce="amin", include_self=True)
    return buf.view(h + 2, w + 2)[1:-1, 1:-1]


def _shade(albedo, shading, surf, normals, ambient: float) -> torch.Tensor:
    """Lambert shading plus ambient; surfaces seen from behind (open clothes) shade two-sided."""
    vec = shading[surf]  # (P, 3, 3)
    lam = (vec[:, 0] * normals).sum(1)
    facing_away = (vec[:, 1] * normals).sum(1) > 0
    lam = torch.where(facing_away, -lam, lam).clamp_min_(0)
    lam /= (vec[:, 2] * normals).norm(dim=1).clamp_min_(1e-12)
    shade = lam.mul_(1.15 - ambient).add_(ambient)
    return (albedo.float() * shade[:, None]).clamp_(0, 255).round_().to(torch.uint8)


CLOTHING_LABELS = ("beneath", "none")


def _beneath(bank: TemplateBank, ident: Identity, a, t, hw, where, ids, iuv_tab) -> torch.Tensor:
    """Point ids that label the foreground pixels ``where``: the front point, or for hair and
    clothes the nearest body point behind it (where one exists)."""
    body = bank.blocks_for([s for s in ident.surfaces if SURFACES[s].part > 0])
    body_keys = _zbuffer(bank, body, a, t, hw).reshape(-1)[where]
    covered = (iuv_tab[ids, 0] == 0) & torch.isfinite(body_keys)
    body_ids = torch.fmod(body_keys.nan_to_num(posinf=0.0), ID_SCALE).to(torch.int64)
    return torch.where(covered, body_ids, ids)


def _render_one(scene, rot, joints, tex, hw, lit, background, spacing_px, out, clothing) -> None:
    """Render one scene into ``out`` = (rgb (3, H, W), iuv (3, H, W), mask, depth (H, W))."""
    rgb, iuv, mask, depth = out
    ident = scene.identity
    k, r_c, centre = aim_camera(scene, rot, joints, hw)
    a, t, shading = surface_transforms(ident, rot, joints, k, r_c, centre, scene.light)
    bank = template_bank(level_for_spacing(template_spacing(a, t, ident, k[0, 0], spacing_px)))
    a, t, shading = (torch.from_numpy(x.astype(np.float32)) for x in (a, t, shading))
    keys = _zbuffer(bank, bank.blocks_for(ident.surfaces), a, t, hw)
    fg = torch.isfinite(keys)
    where = fg.view(-1).nonzero().squeeze(1)
    kv = keys.reshape(-1)[where]
    ids = torch.fmod(kv, ID_SCALE).to(torch.int64)
    iuv_tab, texel_tab = bank.point_lookup(tex.n, tex.extras_rgb.shape[1])
    colour = tex.table[texel_tab[ids]].view(torch.uint8).view(-1, 4)[:, :3]
    if lit:
        colour = _shade(colour, shading, bank.surface[ids], bank.normals[ids], scene.light.ambient)
    if background:
        rgb.copy_(background_rgb(scene.background_seed, *hw))
    rgb.view(3, -1).index_copy_(1, where, colour.T)
    label_ids = ids
    if clothing == "beneath" and ident.extras:
        label_ids = _beneath(bank, ident, a, t, hw, where, ids, iuv_tab)
    iuv.view(3, -1).index_copy_(1, where, iuv_tab[label_ids].T)
    mask.copy_(fg)
    depth.view(-1).index_copy_(0, where, kv.div_(ID_SCALE).floor_().div_(DEPTH_SCALE).float())


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` intra-op threads (None: leave torch's setting), then restore."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _size(size: int | tuple[int, int]) -> tuple[int, int]:
    hw = (size, size) if isinstance(size, int | np.integer) else tuple(size)
    ok = len(hw) == 2 and all(isinstance(x, int | np.integer) and x >= 8 for x in hw)
    if not ok or any(isinstance(x, bool) for x in hw):
        raise ValueError(f"size must be an int >= 8 or a (height, width) pair, got {size!r}")
    return int(hw[0]), int(hw[1])


def render_scenes(
    scenes: Sequence[Scene],
    size: int | tuple[int, int] = 256,
    *,
    lit: bool = True,
    background: bool = True,
    atlas_n: int = DEFAULT_N,
    textures: MutableMapping[tuple[int, int], IdentityTextures] | None = None,
    spacing_px: float = SPLAT_SPACING_PX,
    threads: int | None = 1,
    clothing: str = "beneath",
) -> StudioBatch:
    """Render scenes into a ``StudioBatch`` at ``size`` (square int or (H, W)).

    ``lit=False`` writes the atlas colour unshaded; ``background=False`` leaves black behind the
    person. ``clothing``: how hair and loose clothes are labelled (module docstring).
    ``textures`` caches identity textures by (seed, index) across calls (a dict is fine).
    The per-sample tensors are small, so intra-op threading only adds contention (20× slower
    on a busy 2-core machine): torch runs with ``threads`` threads during the call (None: as
    set), and the previous setting is restored. Parallelise over samples instead.
    """
    hw = _size(size)
    if len(scenes) == 0:
        raise ValueError("scenes must not be empty")
    if not 0 < spacing_px <= 1:
        raise ValueError(f"spacing_px must be in (0, 1], got {spacing_px}")
    if clothing not in CLOTHING_LABELS:
        raise ValueError(f"clothing must be one of {CLOTHING_LABELS}, got {clothing!r}")
    with _torch_threads(threads):
        return _render_batch(scenes, hw, lit, background, atlas_n, textures, spacing_px, clothing)


def _render_batch(
    scenes, hw, lit, background, atlas_n, textures, spacing_px, clothing
) -> StudioBatch:
    textures = {} if textures is None else textures
    b = len(scenes)
    rgb = torch.zeros(b, 3, *hw, dtype=torch.uint8)
    iuv = torch.zeros(b, 3, *hw, dtype=torch.uint8)
    mask = torch.zeros(b, 1, *hw, dtype=torch.bool)
    depth = torch.zeros(b, 1, *hw, dtype=torch.float32)
    rot, joints = forward_kinematics(
        np.stack([s.angles for s in scenes]), np.stack([s.identity.offsets for s in scenes])
    )
    used: dict[tuple[int, int], IdentityTextures] = {}  # in first-appearance order
    for i, scene in enumerate(scenes):
        ident = scene.identity
        key = (ident.seed, ident.index)
        if key not in used:
            tex = textures.get(key)
            if tex is None or tex.n != atlas_n:
                tex = textures[key] = identity_textures(ident, atlas_n)
            used[key] = tex
        out = (rgb[i], iuv[i], mask[i, 0], depth[i, 0])
        _render_one(
            scene, rot[i], joints[i], used[key], hw, lit, background, spacing_px, out, clothing
        )
    order = {key: i for i, key in enumerate(used)}
    atlases = torch.stack([torch.from_numpy(t.atlas_rgb).permute(2, 0, 1) for t in used.values()])
    return StudioBatch(
        rgb=rgb,
        iuv=iuv,
        mask=mask,
        depth=depth,
        identity=torch.tensor([s.identity.index for s in scenes], dtype=torch.int64),
        pose_index=torch.tensor([s.pose_index for s in scenes], dtype=torch.int64),
        view=torch.tensor([s.view for s in scenes], dtype=torch.int64),
        yaw_deg=torch.tensor([s.camera.yaw_deg for s in scenes], dtype=torch.float32),
        pose_names=tuple(s.pose_name for s in scenes),
        keys=tuple(s.key for s in scenes),
        atlases=atlases.contiguous(),
        atlas_identity=torch.tensor([k[1] for k in order], dtype=torch.int64),
        atlas_index=torch.tensor([order[(s.identity.seed, s.identity.index)] for s in scenes]),
    )


def render_samples(
    identities: int = 2,
    poses: int = 3,
    views: int = 4,
    size: int | tuple[int, int] = 64,
    seed: int = 0,
    *,
    lit: bool = True,
    background: bool = True,
    clothing: str = "beneath",
) -> StudioBatch:
    """Render identities × poses × views samples in key order; the in-memory test fixture."""
    return render_scenes(scene_grid(identities, poses, views, seed), size, lit=lit,
                         background=background, clothing=clothing)  # fmt: skip
