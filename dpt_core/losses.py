"""Training losses of Dense Pose Transfer: L1, perceptual, style, adversarial, multi-view.

Images are (B, 3, H, W) in [-1, 1] (``dpt_core.models.blocks``). Every loss returns a 0-d
tensor. Definitions:

* ``l1_loss``: mean |pred - target|, or a masked mean over mask > 0 pixels;
* ``perceptual_loss``: sum over VGG-19 layers of w_l · mean((φ_l(pred) - φ_l(target))²);
* ``style_loss``: same over Gram matrices G = F Fᵀ / (C·H·W) of the layer features;
* ``gan_d_loss`` / ``gan_g_loss``: LSGAN (D: ½E[(D(x)-1)²] + ½E[D(G)²], G: ½E[(D(G)-1)²]) or hinge
  (D: E[relu(1-D(x))] + E[relu(1+D(G))], G: -E[D(G)]); logits may be a list (multi-scale: summed);
* ``multiview_inpainting_loss``: see its docstring.

The VGG network is loaded from ``LossConfig.vgg_weights`` (torchvision or Caffe layout, see
``dpt_core.models.vgg``); without it the perceptual and style terms are off (one warning) unless
``require_vgg`` makes that an error. ``save_losses_record`` writes which terms a run optimises
(``runs/RUN/losses.json``) for the eval report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Hashable, Sequence
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from dpt_core import storage
from dpt_core.models.vgg import DEFAULT_LAYERS, VGG19Features

logger = logging.getLogger(__name__)
GanMode = Literal["lsgan", "hinge"]
_warned_no_vgg = False


class LossConfig(BaseModel):
    """Loss weights and options (frozen). Weights are starting points, tuned per data set."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    l1: float = Field(default=1.0, ge=0)
    # extra L1 averaged over the target's person mask: a person fills ~15 % of a studio image,
    # so whole-image L1 mostly rewards the background (see train.steps.image_losses)
    l1_person: float = Field(default=0.0, ge=0)
    perceptual: float = Field(default=1.0, ge=0)
    style: float = Field(default=100.0, ge=0)
    adversarial: float = Field(default=0.1, ge=0)
    multiview: float = Field(default=1.0, ge=0)
    # "views": each other view is a target; "mean": their visibility-weighted mean colour, the
    # quantity texture completion is scored against (``studio.observed``)
    multiview_target: Literal["views", "mean"] = "views"
    gan_mode: GanMode = "lsgan"
    vgg_weights: str | None = None  # torchvision .pth, Caffe .caffemodel, or Caffe-named .pth/.npz
    vgg_layers: tuple[str, ...] = DEFAULT_LAYERS
    vgg_preprocess: Literal["auto", "torchvision", "caffe"] = "auto"  # auto: the file's layout
    require_vgg: bool = False


def l1_loss(
    pred_bchw: torch.Tensor, target_bchw: torch.Tensor, mask_b1hw: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean absolute error; with a mask, averaged over masked pixels × channels (0 if none)."""
    if pred_bchw.shape != target_bchw.shape:
        raise ValueError(
            f"target_bchw: shape {tuple(target_bchw.shape)} != pred's {tuple(pred_bchw.shape)}"
        )
    diff = (pred_bchw - target_bchw).abs()
    if mask_b1hw is None:
        return diff.mean()
    weight = mask_b1hw.to(diff.dtype).expand_as(diff)
    return (diff * weight).sum() / weight.sum().clamp(min=1.0)


def gram_matrix(features_bchw: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C) Gram matrices F Fᵀ / (C·H·W)."""
    b, c, h, w = features_bchw.shape
    flat = features_bchw.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def _layer_weights(n: int, weights: Sequence[float] | None) -> Sequence[float]:
    if weights is None:
        return [1.0] * n
    if len(weights) != n:
        raise ValueError(f"weights: expected {n} layer weights, got {len(weights)}")
    return weights


def perceptual_loss(
    feats_pred: Sequence[torch.Tensor],
    feats_target: Sequence[torch.Tensor],
    weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """Σ_l w_l · mean((pred_l - target_l)²) over paired feature maps."""
    ws = _layer_weights(len(feats_pred), weights)
    terms = [w * F.mse_loss(a, b) for w, a, b in zip(ws, feats_pred, feats_target, strict=True)]
    return torch.stack(terms).sum()


def style_loss(
    feats_pred: Sequence[torch.Tensor],
    feats_target: Sequence[torch.Tensor],
    weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """Σ_l w_l · mean((Gram(pred_l) - Gram(target_l))²)."""
    ws = _layer_weights(len(feats_pred), weights)
    pairs = zip(ws, feats_pred, feats_target, strict=True)
    return torch.stack([w * F.mse_loss(gram_matrix(a), gram_matrix(b)) for w, a, b in pairs]).sum()


class VGGLossOutput(NamedTuple):
    perceptual: torch.Tensor
    style: torch.Tensor


class VGGLoss(nn.Module):
    """Perceptual and style losses from one VGG-19 pass over each of pred and target."""

    def __init__(self, vgg: VGG19Features, layer_weights: Sequence[float] | None = None) -> None:
        super().__init__()
        self.vgg = vgg
        self.layer_weights = list(_layer_weights(len(vgg.layers), layer_weights))

    def forward(self, pred_bchw: torch.Tensor, target_bchw: torch.Tensor) -> VGGLossOutput:
        """Images (B, 3, H, W) in [-1, 1]; no gradient flows into the target."""
        if pred_bchw.shape != target_bchw.shape or pred_bchw.ndim != 4 or pred_bchw.shape[1] != 3:
            raise ValueError(
                f"pred_bchw, target_bchw: expected equal (B, 3, H, W) shapes, got "
                f"{tuple(pred_bchw.shape)} and {tuple(target_bchw.shape)}"
            )
        feats_pred = self.vgg(self.vgg.normalize(pred_bchw))
        with torch.no_grad():
            feats_target = self.vgg(self.vgg.normalize(target_bchw))
        return VGGLossOutput(
            perceptual_loss(feats_pred, feats_target, self.layer_weights),
            style_loss(feats_pred, feats_target, self.layer_weights),
        )


def build_vgg_loss(config: LossConfig) -> VGGLoss | None:
    """A ``VGGLoss`` from ``config.vgg_weights``, or None (one warning) when none is configured.

    Raises ValueError if ``config.require_vgg`` and no weights are configured or the file is not
    VGG-19 weights, and FileNotFoundError naming the file when it does not exist.
    """
    global _warned_no_vgg
    if config.vgg_weights is None:
        if config.require_vgg:
            raise ValueError("vgg_weights: required (require_vgg=True) but not configured")
        if not _warned_no_vgg:
            logger.warning(
                "no VGG-19 weights configured (vgg_weights): perceptual and style losses are off"
            )
            _warned_no_vgg = True
        return None
    vgg = VGG19Features.from_file(config.vgg_weights, config.vgg_layers, config.vgg_preprocess)
    loss = VGGLoss(vgg)
    logger.info("perceptual and style losses: %s", vgg_status(config, loss))
    return loss


def vgg_status(config: LossConfig, vgg: VGGLoss | None) -> str:
    """One line: are the perceptual and style terms on, and from which VGG-19 file."""
    if vgg is None:
        return "off — no VGG-19 weights configured (losses.vgg_weights)"
    terms = [name for name in ("perceptual", "style") if getattr(config, name) > 0]
    if not terms:
        return "off — losses.perceptual and losses.style are 0"
    state = "on" if len(terms) == 2 else f"on ({terms[0]} only)"
    features = vgg.vgg
    return (
        f"{state} — VGG-19 ({features.layout} layout, {features.preprocess} preprocessing) "
        f"from {storage.redact(features.source or '?')}"
    )


def losses_record(config: LossConfig, vgg: VGGLoss | None, adversarial: bool) -> dict:
    """What a run optimises: ``losses_active`` (names with weight > 0 whose network exists:
    VGG-19 for perceptual/style, a discriminator (``adversarial``) for the GAN term), the
    ``perceptual_style`` line of ``vgg_status``, and the weights."""
    weights = {name: getattr(config, name) for name in ("l1", "perceptual", "style",
               "adversarial", "multiview")}  # fmt: skip
    present = {"perceptual": vgg is not None, "style": vgg is not None, "adversarial": adversarial}
    active = [name for name, w in weights.items() if w > 0 and present.get(name, True)]
    return {"losses_active": active, "perceptual_style": vgg_status(config, vgg),
            "weights": weights}  # fmt: skip


def save_losses_record(url: str, record: dict) -> None:
    """Write ``record`` (``losses_record``) as JSON to ``url`` and log the active losses."""
    storage.write_bytes(url, (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode())
    logger.info("losses active: %s", ", ".join(record["losses_active"]) or "none")


def _as_list(logits: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [logits] if isinstance(logits, torch.Tensor) else list(logits)


def _check_mode(mode: str) -> None:
    if mode not in ("lsgan", "hinge"):
        raise ValueError(f"mode: expected 'lsgan' or 'hinge', got {mode!r}")


def gan_d_loss(
    real_logits: torch.Tensor | Sequence[torch.Tensor],
    fake_logits: torch.Tensor | Sequence[torch.Tensor],
    mode: GanMode = "lsgan",
) -> torch.Tensor:
    """Discriminator loss on real and (detached by the caller) fake logits."""
    _check_mode(mode)
    total = []
    for real, fake in zip(_as_list(real_logits), _as_list(fake_logits), strict=True):
        if mode == "lsgan":
            total.append(0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake**2).mean())
        else:
            total.append(F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean())
    return torch.stack(total).sum()


def gan_g_loss(
    fake_logits: torch.Tensor | Sequence[torch.Tensor], mode: GanMode = "lsgan"
) -> torch.Tensor:
    """Generator loss on the discriminator's logits for generated images."""
    _check_mode(mode)
    fakes = _as_list(fake_logits)
    if mode == "lsgan":
        return torch.stack([0.5 * ((f - 1.0) ** 2).mean() for f in fakes]).sum()
    return torch.stack([-f.mean() for f in fakes]).sum()


def _ids_tensor(
    person_ids: torch.Tensor | Sequence[Hashable], device: torch.device
) -> torch.Tensor:
    if isinstance(person_ids, torch.Tensor):
        return person_ids.to(device).reshape(-1)
    codes: dict[Hashable, int] = {}
    return torch.tensor([codes.setdefault(p, len(codes)) for p in person_ids], device=device)


def multiview_inpainting_loss(
    pred_atlas_bchw: torch.Tensor,
    person_ids: torch.Tensor | Sequence[Hashable],
    partial_atlas_bchw: torch.Tensor,
    visibility_b1hw: torch.Tensor,
    target: Literal["views", "mean"] = "views",
) -> torch.Tensor:
    """Multi-view texture loss: each completed atlas against the *other* views of its person.

    For every ordered pair (i, j), i ≠ j, with ``person_ids[i] == person_ids[j]``, the texels
    view j sees (``visibility_b1hw[j] > 0``) are compared with view j's partial atlas by L1; a
    texel seen by several other views is compared with each of them. The result is the sum of
    all absolute differences divided by the number of compared (texel, channel) entries, i.e. a
    masked mean. It is 0 (no NaN, still in the graph) when no person has two views in the batch
    or the other views see nothing. Targets are detached. Shapes: atlases (B, C, 6n, 4n),
    visibility (B, 1, 6n, 4n) 0/1; ``person_ids`` (B,) tensor or a sequence of hashables (str).

    ``target="mean"``: each atlas is compared once per texel with the mean colour of the other
    views that see it (a masked mean over texels any other view sees). Its optimum is the
    person's mean appearance, the texture-completion ground truth; with ``"views"`` it is the
    per-texel median of the other views.
    """
    if partial_atlas_bchw.shape != pred_atlas_bchw.shape or pred_atlas_bchw.ndim != 4:
        raise ValueError(
            f"partial_atlas_bchw: shape {tuple(partial_atlas_bchw.shape)} must equal the "
            f"(B, C, H, W) pred_atlas_bchw's {tuple(pred_atlas_bchw.shape)}"
        )
    b, c, h, w = pred_atlas_bchw.shape
    if tuple(visibility_b1hw.shape) != (b, 1, h, w):
        raise ValueError(
            f"visibility_b1hw: expected shape {(b, 1, h, w)}, got {tuple(visibility_b1hw.shape)}"
        )
    ids = _ids_tensor(person_ids, pred_atlas_bchw.device)
    if ids.numel() != b:
        raise ValueError(f"person_ids: expected {b} ids, got {ids.numel()}")
    same = ids[:, None] == ids[None, :]
    same.fill_diagonal_(False)
    if target == "mean":
        weights = same.to(pred_atlas_bchw.dtype)
        vis = visibility_b1hw.detach().to(pred_atlas_bchw.dtype)
        counts = torch.einsum("ij,jchw->ichw", weights, vis)
        sums = torch.einsum("ij,jchw->ichw", weights, partial_atlas_bchw.detach() * vis)
        seen = (counts > 0).to(pred_atlas_bchw.dtype)
        diff = (pred_atlas_bchw - sums / counts.clamp(min=1.0)).abs() * seen
        return diff.sum() / (seen.sum() * c).clamp(min=1.0)
    if target != "views":
        raise ValueError(f"target: expected 'views' or 'mean', got {target!r}")
    i, j = same.nonzero(as_tuple=True)
    vis = visibility_b1hw.detach()[j].to(pred_atlas_bchw.dtype)
    diff = (pred_atlas_bchw[i] - partial_atlas_bchw.detach()[j]).abs() * vis
    return diff.sum() / (vis.sum() * c).clamp(min=1.0)
