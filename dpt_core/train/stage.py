"""The training engine: stages in order, data streamed from shards, checkpoints and metrics.

``train(config)`` runs the stages of ``config.stage_plan()`` (inpainter pretraining,
predictive, blending with the GAN) from step 0 or from a checkpoint, writes
``runs/RUN/{config.yaml, losses.json, checkpoints/step-NNNNNN.pt + latest, metrics.parquet}``
(rank 0; ``losses.json``: the losses the run optimises, ``dpt_core.losses.losses_record``)
and returns a ``TrainResult``. Under torchrun every rank calls ``train`` and DDP keeps the
replicas identical (checked at the end). Resuming restores models, the stage's optimisers,
the gradient scaler, RNG states and the metrics accumulator, and the data stream is
fast-forwarded to the same batch, so a resumed run logs the same losses as an uninterrupted
one. A checkpoint is written every ``checkpoint_every`` steps, at every stage end and at
``stop_at``.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from dpt_core import storage
from dpt_core.losses import build_vgg_loss, losses_record, save_losses_record
from dpt_core.models import DensePoseTransfer, PatchDiscriminator
from dpt_core.train import checkpoint as ckpt
from dpt_core.train.config import STAGES, TrainConfig, check_files, save_config
from dpt_core.train.data import StreamSpec, TrainStream, make_loader, to_device
from dpt_core.train.distributed import (
    DistContext,
    check_replicas,
    init_distributed,
    mean_across_ranks,
    shutdown,
    state_digest,
)
from dpt_core.train.index import build_index
from dpt_core.train.metrics_log import Meter, MetricsLog
from dpt_core.train.steps import STEPS, Amp, StageStep

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a run (or one rank of it) ended with."""

    run_url: str
    step: int
    checkpoint: str | None
    metrics_url: str
    losses: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    digests: dict[str, str] = field(default_factory=dict)
    rank: int = 0
    world_size: int = 1


def train(config: TrainConfig, stop_at: int | None = None) -> TrainResult:
    """Train as ``config`` says; ``stop_at`` ends (with a checkpoint) after that global step."""
    check_files(config)
    ctx = init_distributed(config.device)
    try:
        return Trainer(config, ctx).run(stop_at)
    finally:
        shutdown(ctx)


class Trainer:
    """State of one run on one rank: models, step, metrics; ``run`` trains."""

    def __init__(self, config: TrainConfig, ctx: DistContext) -> None:
        self.config, self.ctx, self.scale = config, ctx, config.model_scale
        if config.torch_threads:
            torch.set_num_threads(config.torch_threads)
        if self.scale.inpainter.norm != "none":
            logger.warning(
                "scale.inpainter.norm=%s: gradients of unseen part tiles can explode "
                "(NaN); the shipped configs use none",
                self.scale.inpainter.norm,
            )
        torch.manual_seed(config.seed)
        self.generator = DensePoseTransfer.from_config(self.scale).to(ctx.device)
        gan = config.losses.adversarial > 0 and config.stages.blending.steps > 0
        self.discriminator = (
            PatchDiscriminator.from_config(self.scale).to(ctx.device) if gan else None
        )
        vgg = build_vgg_loss(config.losses)
        self.vgg = vgg.to(ctx.device) if vgg is not None else None
        self.amp = Amp(ctx.device, config.amp, config.amp_dtype)
        self.index = build_index(
            config.root,
            config.dataset,
            config.iuv_source,
            config.split,
            self.scale.atlas_n,
            config.use_textures,
        )
        every = config.stages.blending.held_out_every
        self.stage_index = dict.fromkeys(STAGES, self.index)
        if every:
            self._hold_out_for_blender(every)
        self.step, self.meter, self.saved_at = 0, Meter(), -1
        self.last_row: dict[str, float] = {}
        self.resumed = self._resume()
        self.metrics = MetricsLog(
            storage.join(config.run_url, "metrics.parquet"), keep_until=self.step
        )
        if ctx.is_main:
            save_config(config, storage.join(config.run_url, "config.yaml"))
            record = losses_record(config.losses, self.vgg, self.discriminator is not None)
            save_losses_record(storage.join(config.run_url, "losses.json"), record)

    def _hold_out_for_blender(self, every: int) -> None:
        """Give every ``every``-th person to the blender stage alone (when there are two)."""
        try:
            predictive, blender = self.index.blender_split(every)
        except ValueError as exc:
            logger.warning("stages.blending.held_out_every=%d not applied (%s): the blender "
                           "trains on the predictive stage's pairs", every, exc)  # fmt: skip
            return
        self.stage_index |= {"predictive": predictive, "blending": blender}
        logger.info("blender trains on %d pairs of every %d-th person, predictive on %d",
                    len(blender.pairs), every, len(predictive.pairs))  # fmt: skip

    def _resume(self) -> dict | None:
        """Load the checkpoint ``config.resume`` names (``auto``: the run's latest, if any)."""
        url = self.config.resume
        if url == "auto":
            url = ckpt.latest_checkpoint(self.config.run_url)
        if url is None:
            return None
        payload = ckpt.load_checkpoint(url)  # on CPU: RNG states must stay there
        if ckpt.checkpoint_scale(payload) != self.scale:
            raise ValueError(f"{payload['url']}: checkpoint scale differs from the config's scale")
        slots = (self.config.workers, self.ctx.world_size)
        if (payload["config"]["workers"], payload.get("world_size", 1)) != slots:
            logger.warning("resuming with other workers / processes: the data order differs")
        self.generator.load_state_dict(payload["models"]["generator"])
        if self.discriminator is not None and "discriminator" in payload["models"]:
            self.discriminator.load_state_dict(payload["models"]["discriminator"])
        ckpt.set_rng_state(payload["rng"])
        self.meter.load_state_dict(payload["metrics"], self.ctx.device)
        self.step = self.saved_at = int(payload["step"])
        logger.info("resuming %s from step %d (%s)", self.config.run, self.step, payload["url"])
        return payload

    def run(self, stop_at: int | None = None) -> TrainResult:
        started = time.perf_counter()
        total = self.config.total_steps
        stop_at = total if stop_at is None else min(stop_at, total)
        disable = not (self.ctx.is_main and self.config.progress)
        with tqdm(total=total, initial=self.step, desc=self.config.run, disable=disable) as bar:
            for name, first, steps in self.config.stage_plan():
                end = min(first + steps, stop_at)
                if self.step < end:
                    self._run_stage(name, first, end, bar)
        if self.saved_at != self.step:
            self._checkpoint("done", None)
        digests = {"generator": state_digest(self.generator)}
        if self.discriminator is not None:
            digests["discriminator"] = state_digest(self.discriminator)
        check_replicas(digests, self.ctx)
        latest = ckpt.checkpoint_url(self.config.run_url, self.step) if self.saved_at >= 0 else None
        return TrainResult(
            self.config.run_url,
            self.step,
            latest,
            self.metrics.url,
            self.last_row,
            time.perf_counter() - started,
            digests,
            self.ctx.rank,
            self.ctx.world_size,
        )

    def _stream(self, name: str, start_batch: int) -> TrainStream:
        config = self.config
        stage = getattr(config.stages, name)
        spec = StreamSpec(
            kind="multiview" if name == "inpainter" else "pairs",
            batch_size=config.stage_batch_size(name),
            image_size=self.scale.image_size,
            atlas_n=self.scale.atlas_n,
            seed=config.seed,
            stage=name,
            views=getattr(stage, "views", 2),
            buffer=config.shuffle_buffer,
        )
        index = self.stage_index[name]
        return TrainStream(index, spec, self.ctx.rank, self.ctx.world_size, start_batch)

    def _run_stage(self, name: str, first: int, end: int, bar: tqdm) -> None:
        step_fn = STEPS[name](
            self.generator, self.discriminator, self.config, self.ctx, self.vgg, self.amp
        )
        if self.resumed is not None and self.resumed["stage"] == name:
            step_fn.load_state_dict(self.resumed["optimizers"])
            self.amp.scaler.load_state_dict(self.resumed["scaler"])
        self.resumed = None
        stream = self._stream(name, self.step - first)
        loader = make_loader(stream, self.config.workers, self.ctx.device.type == "cuda")
        logger.info("stage %s: steps %d..%d", name, self.step + 1, end)
        self.generator.train()
        waited = time.perf_counter()
        for batch in loader:
            batch = to_device(batch, self.ctx.device)
            data_seconds = time.perf_counter() - waited
            step_fn.schedule(self.step - first)
            losses = step_fn(batch)
            self.amp.scaler.update()
            self.step += 1
            self.meter.add(losses, data_seconds)
            self._after_step(name, first, end, step_fn, stream.spec.batch_size)
            bar.update(1)
            if self.step >= end:
                break
            waited = time.perf_counter()
        del loader, step_fn
        gc.collect()  # drop the stage's DDP wrappers (and their gradient hooks) now

    def _after_step(self, name: str, first: int, end: int, step_fn: StageStep, batch: int) -> None:
        """Log every ``log_every`` steps and at the stage's end (not at a stop: the interval
        goes on after a resume); checkpoint every ``checkpoint_every`` steps and at ``end``."""
        config = self.config
        stage_end = first + getattr(config.stages, name).steps
        if self.step % config.log_every == 0 or self.step == stage_end:
            row = mean_across_ranks(self.meter.row(batch), self.ctx)
            self.last_row = {
                "step": self.step,
                "stage": name,
                "stage_step": self.step - first,
                **row,
            }
            if self.ctx.is_main:
                self.metrics.add(self.last_row)
                logger.info("step %d %s %s", self.step, name, _short(row))
        if self.step % config.checkpoint_every == 0 or self.step == end:
            self._checkpoint(name, step_fn)

    def _checkpoint(self, stage: str, step_fn: StageStep | None) -> None:
        self.saved_at = self.step
        if not self.ctx.is_main:
            return
        models = {"generator": self.generator.state_dict()}
        if self.discriminator is not None:
            models["discriminator"] = self.discriminator.state_dict()
        payload = {
            "stage": stage,
            "models": models,
            "optimizers": step_fn.state_dict() if step_fn is not None else {},
            "scaler": self.amp.scaler.state_dict(),
            "rng": ckpt.rng_state(),
            "metrics": self.meter.state_dict(),
            "scale": self.scale.model_dump(mode="json"),
            "config": self.config.model_dump(mode="json"),
            "world_size": self.ctx.world_size,
        }
        ckpt.save_checkpoint(self.config.run_url, self.step, payload)
        self.metrics.flush()


def _short(row: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in row.items() if k not in ("samples_per_s",))
