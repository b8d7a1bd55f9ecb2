"""One optimisation step of each training stage, and mixed precision.

* ``inpainter``: the texture inpainter alone, on multi-view batches: the completed atlas of
  every view is compared with the partial atlases of the other views of its person
  (``multiview_inpainting_loss``).
* ``predictive``: the predictive branch on pairs: L1 (+ perceptual and style with VGG weights).
* ``blending``: the whole generator end to end on pairs, plus a PatchGAN discriminator
  (LSGAN or hinge) when ``losses.adversarial > 0``. Generator loss: the image losses of the
  blended image, the adversarial loss and a texture term (weight ``losses.multiview``): L1
  between the completed source atlas and the target's own partial atlas where the target sees.
  The discriminator steps first on (real, detached fake), then the generator (pix2pix order).

Every step returns its losses as detached 0-d tensors (no device sync), with ``grad_norm``: the
global norm of the stage's gradient before clipping (``stages.*.grad_clip``). ``l1_person`` is the
L1 on the target's person mask (always reported; optimised with weight ``losses.l1_person``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dpt_core.atlas import scatter_torch
from dpt_core.losses import LossConfig, gan_d_loss, gan_g_loss, l1_loss, multiview_inpainting_loss
from dpt_core.train.config import TrainConfig
from dpt_core.train.distributed import DistContext, unwrap, wrap

Losses = dict[str, torch.Tensor]


class Amp:
    """Autocast on CUDA when enabled (bfloat16, or float16 with a gradient scaler)."""

    def __init__(self, device: torch.device, enabled: bool, dtype: str = "bfloat16") -> None:
        self.device_type = device.type
        self.enabled = enabled and device.type == "cuda"
        self.dtype = torch.float16 if dtype == "float16" else torch.bfloat16
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=self.enabled and self.dtype == torch.float16
        )

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.enabled)

    def minimize(
        self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, clip: float | None = None
    ) -> torch.Tensor:
        """Zero grads, backward the (scaled) loss, scale the gradient down to global norm
        ``clip`` when it is larger (``None``: never), step ``optimizer``; returns the norm
        before clipping (detached)."""
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(optimizer)
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norm = nn.utils.clip_grad_norm_(params, float("inf") if clip is None else clip)
        self.scaler.step(optimizer)
        return norm.detach()


def image_losses(
    pred: torch.Tensor, batch: dict, vgg: nn.Module | None, weights: LossConfig
) -> tuple[Losses, torch.Tensor]:
    """(named losses, weighted total) of a predicted target image (float32)."""
    target = batch["target"]
    losses = {"l1": l1_loss(pred, target)}
    person = l1_loss(pred if weights.l1_person else pred.detach(), target, batch["target_mask"])
    losses["l1_person"] = person.detach()
    total = weights.l1 * losses["l1"] + weights.l1_person * person
    if vgg is not None and (weights.perceptual or weights.style):
        terms = vgg(pred, target)
        losses["perceptual"], losses["style"] = terms.perceptual, terms.style
        total = total + weights.perceptual * terms.perceptual + weights.style * terms.style
    return losses, total


def lr_factor(schedule: str, stage_step: int, steps: int) -> float:
    """The share of a stage's lr at 0-based ``stage_step`` of ``steps`` under ``schedule``."""
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(stage_step, steps) / max(steps, 1)))
    raise ValueError(f"lr_schedule: 'constant' or 'cosine', got {schedule!r}")


def _adam(module: nn.Module, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    return torch.optim.Adam(unwrap(module).parameters(), lr=lr, betas=betas)


class StageStep:
    """Base: holds the models, the stage's optimisers and the loss settings."""

    name = ""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module | None,
        config: TrainConfig,
        ctx: DistContext,
        vgg: nn.Module | None,
        amp: Amp,
    ) -> None:
        self.generator, self.config, self.vgg, self.amp = generator, config, vgg, amp
        self.weights, self.stage = config.losses, getattr(config.stages, self.name)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.setup(discriminator, ctx)

    def setup(self, discriminator: nn.Module | None, ctx: DistContext) -> None:
        raise NotImplementedError

    def schedule(self, stage_step: int) -> None:
        """Set every optimiser's lr for stage step ``stage_step`` (0-based) from the stage's
        ``lr_schedule``; a function of the step alone, so a resumed run sets the same lr."""
        factor = lr_factor(self.stage.lr_schedule, stage_step, self.stage.steps)
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group.setdefault("base_lr", group["lr"])
                group["lr"] = group["base_lr"] * factor

    def state_dict(self) -> dict:
        return {name: opt.state_dict() for name, opt in self.optimizers.items()}

    def load_state_dict(self, state: dict) -> None:
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state[name])


class InpainterStep(StageStep):
    name = "inpainter"

    def setup(self, discriminator: nn.Module | None, ctx: DistContext) -> None:
        self.net = wrap(self.generator.warping.inpainter, ctx)
        self.optimizers["inpainter"] = _adam(self.net, self.stage.lr, self.stage.betas)

    def __call__(self, batch: dict) -> Losses:
        partial, visibility = batch["partial_atlas"], batch["visibility"]
        with self.amp.autocast():
            atlas, features = self.net(partial, visibility)
        loss = multiview_inpainting_loss(
            atlas.float(), batch["person"], partial, visibility, self.weights.multiview_target
        )
        unused = 0.0 * features.float().mean()  # the feature head trains later; DDP needs a grad
        norm = self.amp.minimize(
            self.weights.multiview * loss + unused,
            self.optimizers["inpainter"],
            self.stage.grad_clip,
        )
        return {"multiview": loss.detach(), "grad_norm": norm}


class PredictiveStep(StageStep):
    name = "predictive"

    def setup(self, discriminator: nn.Module | None, ctx: DistContext) -> None:
        self.net = wrap(self.generator.predictive, ctx)
        self.optimizers["predictive"] = _adam(self.net, self.stage.lr, self.stage.betas)

    def __call__(self, batch: dict) -> Losses:
        with self.amp.autocast():
            pred = self.net(batch["source"], batch["source_iuv"], batch["target_iuv"]).image
        losses, total = image_losses(pred.float(), batch, self.vgg, self.weights)
        norm = self.amp.minimize(total, self.optimizers["predictive"], self.stage.grad_clip)
        return {**{k: v.detach() for k, v in losses.items()}, "grad_norm": norm}


class BlendingStep(StageStep):
    name = "blending"

    def setup(self, discriminator: nn.Module | None, ctx: DistContext) -> None:
        self.frozen = self.stage.train == "blender"
        self.net = wrap(self.generator.blender if self.frozen else self.generator, ctx)
        self.optimizers["generator"] = _adam(self.net, self.stage.lr, self.stage.betas)
        self.disc = wrap(discriminator, ctx) if discriminator is not None else None
        if self.disc is not None:
            self.optimizers["discriminator"] = _adam(self.disc, self.stage.lr_d, self.stage.betas)

    def _discriminator_step(self, fake: torch.Tensor, batch: dict) -> torch.Tensor:
        """One D update on (real, detached fake) in a single forward; returns the D loss."""
        unwrap(self.disc).requires_grad_(True)
        images = torch.cat((batch["target"], fake.detach()))
        iuvs = torch.cat((batch["target_iuv"], batch["target_iuv"]))
        with self.amp.autocast():
            real_logits, fake_logits = self.disc(images, iuvs).float().chunk(2)
        loss = gan_d_loss(real_logits, fake_logits, self.weights.gan_mode)
        self.amp.minimize(loss, self.optimizers["discriminator"])
        unwrap(self.disc).requires_grad_(False)
        return loss.detach()

    def _frozen_forward(self, batch: dict) -> torch.Tensor:
        """The blend of the two frozen branches (gradients reach the blender only)."""
        gen = self.generator
        args = (batch["source"], batch["source_iuv"], batch["target_iuv"])
        with self.amp.autocast():
            with torch.no_grad():
                predicted = gen.predictive(*args)
                warped = gen.warping(*args, batch["partial_atlas"], batch["visibility"])
            blend = self.net(predicted.image, predicted.features, warped.image, warped.features,
                             batch["target_iuv"], *args[:2])  # fmt: skip
        return blend.image

    def __call__(self, batch: dict) -> Losses:
        if self.frozen:
            fake = self._frozen_forward(batch).float()
            losses, total = image_losses(fake, batch, self.vgg, self.weights)
            return self._adversarial(fake, batch, losses, total)
        args = (batch["source"], batch["source_iuv"], batch["target_iuv"])
        with self.amp.autocast():
            out = self.net(*args, batch["partial_atlas"], batch["visibility"])
        fake = out.image.float()
        losses, total = image_losses(fake, batch, self.vgg, self.weights)
        if self.weights.multiview:
            with torch.no_grad():
                n = unwrap(self.net).warping.atlas_n
                seen, visible = scatter_torch(batch["target"], batch["target_iuv"], n)
            losses["texture"] = l1_loss(out.atlas.float(), seen, visible)
            total = total + self.weights.multiview * losses["texture"]
        return self._adversarial(fake, batch, losses, total)

    def _adversarial(self, fake: torch.Tensor, batch: dict, losses: Losses, total) -> Losses:
        """Discriminator step, generator adversarial term, generator update."""
        if self.disc is not None:
            losses["d_loss"] = self._discriminator_step(fake, batch)
            with self.amp.autocast():  # D's weights are frozen here: no DDP reduction for them
                logits = unwrap(self.disc)(fake, batch["target_iuv"]).float()
            losses["g_adv"] = gan_g_loss(logits, self.weights.gan_mode)
            total = total + self.weights.adversarial * losses["g_adv"]
        norm = self.amp.minimize(total, self.optimizers["generator"], self.stage.grad_clip)
        return {**{k: v.detach() for k, v in losses.items()}, "grad_norm": norm}


STEPS: dict[str, type[StageStep]] = {
    "inpainter": InpainterStep,
    "predictive": PredictiveStep,
    "blending": BlendingStep,
}
