"""The training engine: run layout, exact resume, gradients through the gather, overfitting."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dpt_core import storage
from dpt_core.models import DensePoseTransfer, PatchDiscriminator
from dpt_core.train import checkpoint as ckpt
from dpt_core.train import load_generator, train
from dpt_core.train.config import TrainConfig, load_config
from dpt_core.train.data import StreamSpec, TrainStream
from dpt_core.train.distributed import DistContext, state_digest
from dpt_core.train.index import build_index
from dpt_core.train.metrics_log import read_metrics
from dpt_core.train.stage import Trainer
from dpt_core.train.steps import Amp, BlendingStep, PredictiveStep, lr_factor

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "train"

LOSSES = ("multiview", "l1", "l1_person", "texture", "d_loss", "g_adv", "grad_norm")


def _losses(table) -> list[dict]:
    return [{k: row.get(k) for k in ("step", "stage", *LOSSES)} for row in table.to_pylist()]


def test_tiny_run_writes_the_run_layout(tiny_config) -> None:
    config = tiny_config()
    result = train(config)
    run = config.run_url
    assert result.step == 6 and result.checkpoint == f"{run}/checkpoints/step-000006.pt"
    saved = yaml.safe_load(storage.read_bytes(f"{run}/config.yaml"))
    assert saved["run"] == config.run and saved["scale"]["atlas_n"] == 16
    names = [u.rsplit("/", 1)[-1] for u in storage.ls(f"{run}/checkpoints")]
    assert names == ["latest", "step-000002.pt", "step-000004.pt", "step-000006.pt"]
    assert storage.read_bytes(f"{run}/checkpoints/latest") == b"step-000006.pt"
    rows = _losses(read_metrics(run))
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["stage"] for r in rows] == ["inpainter"] * 2 + ["predictive"] * 2 + ["blending"] * 2
    assert all(r["multiview"] > 0 for r in rows[:2]) and all(r["g_adv"] > 0 for r in rows[4:])
    assert all(r["grad_norm"] > 0 for r in rows)
    payload = torch.load(io.BytesIO(storage.read_bytes(result.checkpoint)), weights_only=True)
    assert payload["step"] == 6 and set(payload["models"]) == {"generator", "discriminator"}
    generator, scale = load_generator(run, "cpu")
    assert scale.name == "tiny" and not generator.training
    assert state_digest(generator) == result.digests["generator"]


@pytest.mark.determinism
def test_resume_matches_the_uninterrupted_run(tiny_config) -> None:
    whole = tiny_config("workers=2", "run=whole")
    result = train(whole)
    parts = tiny_config("workers=2", "run=parts")
    stopped = train(parts, stop_at=3)  # mid-stage: predictive runs steps 3-4
    assert stopped.step == 3 and stopped.checkpoint.endswith("step-000003.pt")
    resumed = train(parts)
    assert resumed.step == 6
    expected, got = _losses(read_metrics(whole.run_url)), _losses(read_metrics(parts.run_url))
    assert [r["step"] for r in got] == [1, 2, 3, 4, 5, 6]
    for want, have in zip(expected, got, strict=True):
        assert have["stage"] == want["stage"]
        for name in LOSSES:
            assert have[name] == (None if want[name] is None else pytest.approx(want[name], 1e-6))
    assert resumed.digests == result.digests


def test_a_finished_run_is_not_retrained(tiny_config) -> None:
    config = tiny_config("stages.inpainter.steps=0", "stages.blending.steps=0")
    first = train(config)
    again = train(config)
    assert again.step == first.step == 2 and again.digests == first.digests
    assert len(read_metrics(config.run_url)) == 2


def _one_batch(config: TrainConfig) -> dict:
    index = build_index(config.root, config.dataset, atlas_n=16)
    spec = StreamSpec("pairs", 2, 64, 16, 0, "blending")
    return next(iter(TrainStream(index, spec)))


def test_gradients_reach_the_inpainter_through_the_gather(tiny_config) -> None:
    """Only the blended image's L1: the inpainter learns through gather_torch alone."""
    config = tiny_config(
        "losses.adversarial=0", "losses.multiview=0", "stages.inpainter.steps=0",
        "stages.blending.train=all",
    )  # fmt: skip
    torch.manual_seed(0)
    generator = DensePoseTransfer.from_config(config.model_scale)
    step = BlendingStep(
        generator, None, config, DistContext(), None, Amp(torch.device("cpu"), False)
    )
    losses = step(_one_batch(config))
    assert set(losses) == {"l1", "l1_person", "grad_norm"}
    grads = [p.grad for p in generator.warping.inpainter.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_default_blending_trains_the_blender_alone(tiny_config) -> None:
    """``stages.blending.train=blender``: the pretrained branches stay as they are."""
    config = tiny_config("losses.adversarial=0.1", "stages.inpainter.steps=0")
    assert config.stages.blending.train == "blender"
    torch.manual_seed(0)
    generator = DensePoseTransfer.from_config(config.model_scale)
    disc = PatchDiscriminator.from_config(config.model_scale)
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    step = BlendingStep(
        generator, disc, config, DistContext(), None, Amp(torch.device("cpu"), False)
    )
    losses = step(_one_batch(config))
    assert {"l1", "g_adv", "d_loss"} <= set(losses) and "texture" not in losses
    after = generator.state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"blender"}


def test_held_out_persons_train_the_blender_only(tiny_config) -> None:
    """``held_out_every=2``: the predictive stage streams one person, the blender the other;
    the inpainter both."""
    config = tiny_config("stages.blending.held_out_every=2", "workers=0")
    trainer = Trainer(config, DistContext())
    seen = {}
    for stage in ("inpainter", "predictive", "blending"):
        batch = next(iter(trainer._stream(stage, 0)))
        seen[stage] = {str(k)[:7] for k in np.asarray(batch["keys"]).ravel()}
    assert seen["predictive"] == {"id00001"} and seen["blending"] == {"id00000"}
    assert len(trainer.stage_index["inpainter"].pairs) == len(trainer.index.pairs)
    with pytest.raises(ValueError, match="0 \\(off\\) or >= 2"):
        tiny_config("stages.blending.held_out_every=1")


def test_held_out_needs_two_persons_else_warns(overfit_root: str, caplog) -> None:
    """One training person: the blender trains on the predictive stage's pairs, said in the log."""
    config = load_config(str(CONFIGS / "tiny.yaml"),
                         [f"root={overfit_root}", "stages.blending.held_out_every=4"])  # fmt: skip
    trainer = Trainer(config, DistContext())
    assert trainer.stage_index["blending"] is trainer.stage_index["predictive"] is trainer.index
    assert "held_out_every=4 not applied (the blender split needs two persons" in caplog.text


def test_tiny_studio_set_is_overfit(overfit_root: str) -> None:
    """The whole generator on two pairs: the L1 on the person (not just the easy black
    background) falls by at least half within 60 steps (the blender's source copy starts it
    lower than the plain blend did, so it takes longer than 40 to halve)."""
    overrides = [
        f"root={overfit_root}",
        "run=overfit",
        "stages.inpainter.steps=0",
        "stages.predictive.steps=0",
        "stages.blending.steps=60",
        "stages.blending.train=all",
        "stages.blending.lr=1e-3",
        "stages.blending.betas=[0.9, 0.999]",
        "losses.adversarial=0",
        "batch_size=2",
        "checkpoint_every=1000",
    ]
    config = load_config(str(CONFIGS / "tiny.yaml"), overrides)
    train(config)
    rows = read_metrics(config.run_url).to_pylist()
    person = [r["l1_person"] for r in rows]
    assert len(person) == 60
    assert sum(person[-5:]) / 5 < 0.5 * person[0], person[::5]
    assert rows[-1]["l1"] < 0.5 * rows[0]["l1"]


def test_missing_resume_checkpoint_is_named(tiny_config) -> None:
    config = tiny_config().model_copy(update={"resume": "/nowhere/step-000001.pt"})
    with pytest.raises(FileNotFoundError, match=r"/nowhere/step-000001\.pt"):
        train(config)


def test_bad_checkpoints_are_named(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint found"):
        load_generator(str(tmp_path))
    bogus = tmp_path / "bogus.pt"
    torch.save({"weights": torch.zeros(1)}, bogus)
    with pytest.raises(ValueError, match="not a dpt training checkpoint"):
        ckpt.load_checkpoint(str(bogus))
    bogus.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"bogus\.pt: not a readable checkpoint"):
        ckpt.load_checkpoint(str(bogus))


def test_checkpoints_round_trip_on_fsspec_memory() -> None:
    state = ckpt.rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    ckpt.set_rng_state(state)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]
    run = "memory://dpt-test/runs/r"
    payload = {"stage": "predictive", "scale": {"name": "tiny"}, "models": {"generator": {}}}
    payload |= {"rng": state, "w": torch.arange(4)}
    url = ckpt.save_checkpoint(run, 12, payload)
    assert url == f"{run}/checkpoints/step-000012.pt" and ckpt.latest_checkpoint(run) == url
    loaded = ckpt.load_checkpoint(run)
    assert loaded["step"] == 12 and torch.equal(loaded["w"], torch.arange(4))
    assert torch.equal(loaded["rng"]["torch"], state["torch"])


def test_minimize_clips_the_gradient_norm_and_returns_it_unclipped() -> None:
    weight = torch.nn.Parameter(torch.zeros(4))
    amp = Amp(torch.device("cpu"), enabled=False)
    loss = (weight * torch.tensor([3.0, 4.0, 0.0, 0.0])).sum()  # gradient (3, 4, 0, 0): norm 5
    norm = amp.minimize(loss, torch.optim.SGD([weight], lr=1.0), clip=0.5)
    assert float(norm) == pytest.approx(5.0)
    assert weight.detach().tolist() == pytest.approx([-0.3, -0.4, 0.0, 0.0])
    loss = (weight * torch.tensor([0.3, 0.0, 0.0, 0.0])).sum()  # below the clip: untouched
    assert float(amp.minimize(loss, torch.optim.SGD([weight], lr=1.0), clip=0.5)) == pytest.approx(
        0.3
    )
    assert weight.detach().tolist() == pytest.approx([-0.6, -0.4, 0.0, 0.0])


def test_cosine_schedule_decays_the_lr_to_zero_and_resumes_exactly(tiny_config) -> None:
    assert [lr_factor("cosine", t, 4) for t in (0, 2, 4)] == pytest.approx([1.0, 0.5, 0.0])
    assert lr_factor("constant", 3, 4) == 1.0
    with pytest.raises(ValueError, match="lr_schedule"):
        lr_factor("linear", 0, 4)
    cosine = ("stages.predictive.lr_schedule=cosine", "stages.predictive.steps=4")
    config = tiny_config(*cosine, "run=whole")
    step = PredictiveStep(DensePoseTransfer.from_config(config.model_scale), None, config,
                          DistContext(), None, Amp(torch.device("cpu"), enabled=False))  # fmt: skip
    step.schedule(3)  # 0-based: the stage's last step trains at (1 + cos(3π/4)) / 2 of the lr
    group = step.optimizers["predictive"].param_groups[0]
    assert group["lr"] == pytest.approx(config.stages.predictive.lr * (1 - 2**-0.5) / 2)
    whole = train(config)
    parts = tiny_config(*cosine, "run=parts")
    train(parts, stop_at=4)  # predictive steps 3-6: stopped after its second step
    assert train(parts).digests == whole.digests
    constant = train(tiny_config("stages.predictive.steps=4", "run=constant"))
    assert constant.digests != whole.digests
