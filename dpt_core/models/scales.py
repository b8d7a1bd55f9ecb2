"""Model scales: the widths and sizes of every network, selected by name.

Three named scales share one code path (DESIGN.md, "Three scales of every model config"):

* ``tiny``  — 64×64 images, atlas tiles n=16, narrow widths: unit tests, seconds on a CPU;
* ``demo``  — 128×128 images, n=32, small widths: the CPU main job, minutes;
* ``paper`` — 256×256 images, n=64, full widths: for GPUs.

Each scale is a frozen pydantic model, so the training engine can embed a ``ModelScale`` in its
own config, override single fields with ``scale.model_copy(update=...)`` and save the resolved
values beside a run (``scale.model_dump()``). Every model has ``from_config(scale)``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Norm = Literal["instance", "batch", "none"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PredictiveScale(_Frozen):
    """U-Net widths: ``base_width`` at full resolution, doubled per level up to ``max_width``."""

    base_width: int = Field(gt=0)
    max_width: int = Field(gt=0)
    n_down: int = Field(ge=1, le=6)
    n_res: int = Field(ge=0)
    # instance norm removes each image's mean colour from every feature map, so the U-Net
    # cannot carry the source's absolute colours; the demo scale uses "none"
    # (models.predictive)
    norm: Norm = "instance"
    # what the U-Net's skips carry (models.predictive)
    skips: Literal["all", "target"] = "all"


class InpainterScale(_Frozen):
    """Per-part widths of the inpainting autoencoder (each of the 24 parts has this many)."""

    part_width: int = Field(gt=0)
    n_down: int = Field(ge=1, le=5)
    global_dim: int = Field(default=256, gt=0)
    feature_channels: int = Field(gt=0)
    shared_decoder: bool = False
    keep_visible: bool = True
    hints: bool = True  # mean colour and partner tile as inputs (see models.inpainter)
    fill_prior: bool = True  # predict a residual on the strip fill (see texture_fill)
    # No norm by default: instance norm on a part tile that no pixel reaches (every view misses
    # some parts) has zero variance and its gradients explode through the stacked norms (about
    # 1e9 at tiny scale, NaN after two Adam steps at demo scale).
    norm: Norm = "none"


class BlenderScale(_Frozen):
    """Width and depth of the small blending network."""

    width: int = Field(gt=0)
    n_res: int = Field(ge=0)
    norm: Norm = "instance"
    warp_prior: float = 6.0  # initial blend logit on the body (see models.blender)
    # "predicted": the correction refines the predicted image's share only; "everywhere": added
    # to the blend (checkpoints saved before this field); "none": a convex blend only
    correction: Literal["predicted", "everywhere", "none"] = "predicted"
    # a third candidate off the target person: the source image with its person hole filled (a
    # photo shoot's background is pixel-aligned between poses); False in older checkpoints
    copy_source: bool = True
    # person hole: the body dilated by this share of the height (hair, loose clothes); the
    # source's is filled in the plate, the target's takes the plate only with hole_share > 0
    copy_margin: float = Field(default=1 / 32, ge=0.0, le=1.0)
    # alpha = min(1, (1 + warp_slack)·sigmoid(logit)): > 0 lets the body be exactly the warped
    # image; 0 (checkpoints before this field) keeps alpha below 1
    warp_slack: float = Field(default=0.0, ge=0.0)
    # "learned": alpha on the body comes from the warp logit; "warped": alpha is 1 on the body,
    # the blend is exactly the warped image there (the logit is unused)
    body: Literal["learned", "warped"] = "learned"
    # how the plate fills the source's person hole: "push_pull" (a smooth pyramid fill,
    # checkpoints before this field) or "span" (rows and columns interpolated across the hole)
    plate_fill: Literal["push_pull", "span"] = "push_pull"
    # the plate's start share inside the target's person hole off its body (learned from there);
    # 0 (checkpoints before this field): never there
    hole_share: float = Field(default=0.0, ge=0.0, lt=1.0)


class DiscriminatorScale(_Frozen):
    """PatchGAN width, number of stride-2 layers, conditioning on the target IUV."""

    width: int = Field(gt=0)
    n_layers: int = Field(ge=1, le=6)
    conditional: bool = True
    spectral_norm: bool = False
    norm: Norm = "instance"


class ModelScale(_Frozen):
    """Everything that sizes the networks: image size, atlas tile size and per-branch widths."""

    name: str
    image_size: int = Field(gt=0)
    atlas_n: int = Field(gt=0)
    predictive: PredictiveScale
    inpainter: InpainterScale
    blender: BlenderScale
    discriminator: DiscriminatorScale


SCALES: dict[str, ModelScale] = {
    "tiny": ModelScale(
        name="tiny",
        image_size=64,
        atlas_n=16,
        predictive=PredictiveScale(base_width=16, max_width=64, n_down=3, n_res=2),
        inpainter=InpainterScale(part_width=4, n_down=2, global_dim=64, feature_channels=4),
        blender=BlenderScale(width=16, n_res=1),
        discriminator=DiscriminatorScale(width=16, n_layers=3),
    ),
    "demo": ModelScale(
        name="demo",
        image_size=128,
        atlas_n=32,
        predictive=PredictiveScale(base_width=16, max_width=128, n_down=3, n_res=3, norm="none"),
        inpainter=InpainterScale(part_width=8, n_down=3, global_dim=128, feature_channels=8),
        # measured on the validation split (models.blender, issue #19 in benchmarks/RESULTS.md)
        blender=BlenderScale(width=32, n_res=2, norm="none", body="warped", plate_fill="span"),
        discriminator=DiscriminatorScale(width=32, n_layers=3),
    ),
    "paper": ModelScale(
        name="paper",
        image_size=256,
        atlas_n=64,
        predictive=PredictiveScale(base_width=64, max_width=512, n_down=4, n_res=6),
        inpainter=InpainterScale(part_width=16, n_down=4, global_dim=256, feature_channels=16),
        blender=BlenderScale(width=64, n_res=3),
        discriminator=DiscriminatorScale(width=64, n_layers=3, spectral_norm=True),
    ),
}


def get_scale(name: str | ModelScale) -> ModelScale:
    """The scale called ``name`` ("tiny", "demo", "paper"); a ``ModelScale`` passes through."""
    if isinstance(name, ModelScale):
        return name
    if name not in SCALES:
        raise ValueError(f"scale: unknown model scale {name!r}; expected one of {sorted(SCALES)}")
    return SCALES[name]
