"""The training configuration: typed (pydantic), layered and frozen.

Layers, weakest first: the field defaults below -> a YAML file (which may name a ``base:`` YAML,
resolved relative to it) -> command-line overrides ``a.b=value`` (values parsed as YAML). The
result is validated and frozen; ``save_config`` writes the resolved values to
``runs/RUN/config.yaml``. ``scale`` is a scale name (tiny / demo / paper), a full
``ModelScale``, or a mapping with a known ``name`` and the fields that differ from it; an
override like ``scale.atlas_n=32`` expands a named scale first.

Stages run in order ``inpainter``, ``predictive``, ``blending``; one of ``steps: 0`` is skipped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dpt_core import storage
from dpt_core.losses import LossConfig
from dpt_core.models.scales import SCALES, ModelScale, get_scale
from dpt_core.models.vgg_weights import WEIGHTS_HELP

logger = logging.getLogger(__name__)

STAGES = ("inpainter", "predictive", "blending")
_RUN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StageConfig(_Frozen):
    """One training stage: its length, Adam settings, (optionally) its own batch size and lr
    schedule (``cosine``: lr · (1 + cos(π · t / steps)) / 2 at stage step t; ``train.steps``)."""

    steps: int = Field(default=0, ge=0)
    lr: float = Field(default=2e-4, gt=0)
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int | None = Field(default=None, gt=0)
    # scale the gradient down to this global norm when larger (None: never); logged as grad_norm
    grad_clip: float | None = Field(default=None, gt=0)
    lr_schedule: Literal["constant", "cosine"] = "constant"


class InpainterStageConfig(StageConfig):
    """Multi-view pretraining: a batch holds ``batch_size // views`` persons × ``views`` views."""

    views: int = Field(default=4, ge=2)


class BlendingStageConfig(StageConfig):
    """Blending stage: ``lr`` for the generator, ``lr_d`` for the discriminator.

    ``train="blender"`` (default) freezes the two pretrained branches and trains the blender
    alone, so the final model's predictive and warped outputs are those of their own stages and
    the blend can only add to them; ``"all"`` trains the whole generator end to end (the paper's
    fine-tuning; measured at 64 px it degraded the predictive branch, body L1 0.25 -> 0.38).
    """

    lr_d: float = Field(default=2e-4, gt=0)
    train: Literal["blender", "all"] = "blender"
    # 0: the blender trains on the pairs the predictive branch trained on. k >= 2: every k-th
    # person of the split trains the blender only and the predictive stage never sees them, so
    # the blender learns how good the predicted image is on new people, as at test time
    # (stacking). The inpainter trains on everyone (held out of it too, one validation run's
    # inpainter saturated a part late in training: benchmarks/RESULTS.md, issue #19).
    held_out_every: int = Field(default=0, ge=0)


class StagesConfig(_Frozen):
    """The three stages; the defaults are ``configs/train/demo.yaml``'s."""

    inpainter: InpainterStageConfig = InpainterStageConfig(steps=100, lr=1e-3)
    predictive: StageConfig = StageConfig(steps=100, lr=5e-4, batch_size=4)
    blending: BlendingStageConfig = BlendingStageConfig(steps=300, batch_size=4, held_out_every=4)


class TrainConfig(_Frozen):
    """Everything one training run needs; see ``configs/train/*.yaml``. The defaults are the
    demo job: demo scale on the studio data set under ``data/demo``."""

    root: str = "data/demo"
    dataset: str = "studio"
    iuv_source: str = "studio"
    split: Literal["train", "test"] = "train"
    run: str = "studio-demo"
    scale: str | ModelScale = "demo"
    stages: StagesConfig = StagesConfig()
    batch_size: int = Field(default=8, gt=0)
    workers: int = Field(default=2, ge=0)
    shuffle_buffer: int = Field(default=256, ge=1)
    use_textures: bool = True
    seed: int = 0
    losses: LossConfig = LossConfig(l1_person=1.0, adversarial=0.0)  # the demo recipe
    device: str = "auto"
    amp: bool = True
    amp_dtype: Literal["bfloat16", "float16"] = "bfloat16"
    checkpoint_every: int = Field(default=50, gt=0)
    log_every: int = Field(default=10, gt=0)
    torch_threads: int = Field(default=0, ge=0)
    resume: str | None = "auto"
    progress: bool = True

    @field_validator("scale", mode="before")
    @classmethod
    def _expand_named_scale(cls, value: Any) -> Any:
        """A mapping naming a known scale (``name: demo``) fills its other fields from it."""
        if isinstance(value, dict) and value.get("name") in SCALES:
            return _merge(SCALES[value["name"]].model_dump(), value)
        return value

    @field_validator("scale")
    @classmethod
    def _known_scale(cls, value: str | ModelScale) -> str | ModelScale:
        if isinstance(value, str):
            get_scale(value)  # ValueError naming the known scales
        return value

    @field_validator("run")
    @classmethod
    def _plain_run(cls, value: str) -> str:
        if not _RUN_RE.match(value):
            raise ValueError(f"run must be a plain name ([A-Za-z0-9_.-]), got {value!r}")
        return value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE_RE.match(value):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        inpainter = self.stages.inpainter
        if inpainter.steps and self.stage_batch_size("inpainter") % inpainter.views:
            raise ValueError(
                f"stages.inpainter: batch size {self.stage_batch_size('inpainter')} must be a "
                f"multiple of views={inpainter.views}"
            )
        if inpainter.steps and self.losses.multiview <= 0:
            raise ValueError("losses.multiview must be > 0 when stages.inpainter.steps > 0")
        if self.total_steps == 0:
            raise ValueError("stages: every stage has steps 0; nothing to train")
        if self.stages.blending.held_out_every == 1:
            raise ValueError("stages.blending.held_out_every: 0 (off) or >= 2, got 1")
        return self

    @property
    def model_scale(self) -> ModelScale:
        """The resolved ``ModelScale``."""
        return get_scale(self.scale)

    @property
    def run_url(self) -> str:
        """``ROOT/runs/RUN``."""
        return storage.join(self.root, "runs", self.run)

    @property
    def total_steps(self) -> int:
        return sum(getattr(self.stages, name).steps for name in STAGES)

    def stage_batch_size(self, stage: str) -> int:
        """Samples per batch of ``stage`` (pairs, or persons × views for the inpainter)."""
        return getattr(self.stages, stage).batch_size or self.batch_size

    def stage_plan(self) -> list[tuple[str, int, int]]:
        """(stage, first global step, steps) of the stages that run, in order."""
        plan, first = [], 0
        for name in STAGES:
            steps = getattr(self.stages, name).steps
            if steps:
                plan.append((name, first, steps))
                first += steps
        return plan


def _read_yaml(url: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A YAML mapping with its ``base:`` chain merged under it (base first)."""
    if url in seen:
        raise ValueError(f"config: base cycle through {url}")
    try:
        data = yaml.safe_load(storage.read_bytes(url)) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {url}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"config {url}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"config {url}: expected a mapping at the top level")
    base = data.pop("base", None)
    if base is None:
        return data
    head = url.rsplit("/", 1)[0] if "/" in url else "."
    base_url = base if "://" in base or base.startswith("/") else storage.join(head, base)
    return _merge(_read_yaml(base_url, (*seen, url)), data)


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of mappings; ``top`` wins. A ``scale`` naming a scale replaces the lower one."""
    out = dict(base)
    for key, value in top.items():
        named_scale = key == "scale" and isinstance(value, dict) and "name" in value
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not named_scale:
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_override(data: dict[str, Any], override: str) -> dict[str, Any]:
    """``data`` with ``"a.b=value"`` set (value parsed as YAML); a named scale is expanded."""
    path, sep, text = override.partition("=")
    keys = path.strip().split(".")
    if not sep or not all(keys):
        raise ValueError(f"override: expected KEY.PATH=VALUE, got {override!r}")
    value = yaml.safe_load(text) if text.strip() else None
    out = dict(data)
    node = out
    for depth, key in enumerate(keys[:-1]):
        child = node.get(key, {})
        if depth == 0 and key == "scale" and isinstance(child, str):
            child = get_scale(child).model_dump()
        if isinstance(child, BaseModel):
            child = child.model_dump()
        if not isinstance(child, dict):
            raise ValueError(f"override {override!r}: {'.'.join(keys[: depth + 1])} is no mapping")
        node[key] = dict(child)
        node = node[key]
    node[keys[-1]] = value
    return out


def load_config(
    path: str | None = None, overrides: Sequence[str] = (), check: bool = True
) -> TrainConfig:
    """Defaults -> YAML file ``path`` -> ``overrides``, frozen; ``check`` verifies the files.

    Raises FileNotFoundError naming a missing config file or input (see ``check_files``) and
    ValueError naming a bad field.
    """
    data = TrainConfig().model_dump(mode="json")  # defaults, so YAML merges field by field
    if path:
        data = _merge(data, _read_yaml(path))
    for override in overrides:
        data = apply_override(data, override)
    try:
        config = TrainConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"config {path or '(defaults)'}: {problems}") from None
    if check:
        check_files(config)
    return config


def required_files(config: TrainConfig) -> list[tuple[str, str]]:
    """(what, URL) of every input the run reads."""
    root, name = config.root, config.dataset
    files = [
        ("data set shards", storage.join(root, "datasets", name, "shards")),
        (
            f"IUV shards (source {config.iuv_source!r})",
            storage.join(root, "densepose", name, config.iuv_source),
        ),
        (f"{config.split} pairs", storage.join(root, "pairs", name, f"{config.split}.parquet")),
    ]
    if config.losses.vgg_weights:
        what = f"VGG-19 weights (losses.vgg_weights; {WEIGHTS_HELP})"
        files.append((what, config.losses.vgg_weights))
    if config.resume not in (None, "auto"):
        files.append(("resume checkpoint", config.resume))
    return files


def check_files(config: TrainConfig) -> None:
    """FileNotFoundError listing every missing input of ``config`` (one error, all names)."""
    missing = [f"{what}: {url}" for what, url in required_files(config) if not storage.exists(url)]
    if missing:
        raise FileNotFoundError("training input not found: " + "; ".join(missing))


def config_yaml(config: TrainConfig) -> str:
    """The resolved config as YAML (the named scale expanded to its values)."""
    data = config.model_dump(mode="json")
    data["scale"] = config.model_scale.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False)


def save_config(config: TrainConfig, url: str) -> None:
    """Write ``config_yaml(config)`` to ``url`` atomically."""
    storage.write_bytes(url, config_yaml(config).encode("utf-8"))
