"""The training config: defaults -> YAML (with base) -> overrides, frozen, files checked."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
import yaml

from dpt_core.models.scales import get_scale
from dpt_core.train.config import (
    STAGES,
    TrainConfig,
    apply_override,
    check_files,
    config_yaml,
    load_config,
)

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "train").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_shipped_config_loads(path: Path) -> None:
    config = load_config(str(path), check=False)
    assert config.model_scale.name == path.stem
    assert config.total_steps > 0
    assert [name for name, _, _ in config.stage_plan()] == list(STAGES)


def test_defaults_are_the_demo_config() -> None:
    demo = next(p for p in CONFIGS if p.stem == "demo")
    assert load_config(None, check=False) == load_config(str(demo), check=False)


def test_layers_defaults_yaml_base_overrides(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("batch_size: 12\nstages: {predictive: {lr: 0.5}}\n")
    (tmp_path / "top.yaml").write_text(
        "base: base.yaml\nstages: {predictive: {steps: 7}}\nseed: 3\n"
    )
    config = load_config(str(tmp_path / "top.yaml"), ["seed=5", "losses.l1=2.5"], check=False)
    assert config.batch_size == 12  # from the base
    assert config.stages.predictive.lr == 0.5 and config.stages.predictive.steps == 7  # merged
    assert config.seed == 5 and config.losses.l1 == 2.5  # overrides win
    assert config.workers == TrainConfig().workers  # default
    with pytest.raises(pydantic.ValidationError):
        config.seed = 1  # frozen


def test_scale_override_expands_a_named_scale() -> None:
    config = load_config(None, ["scale=tiny", "scale.atlas_n=32"], check=False)
    assert config.model_scale.atlas_n == 32
    assert config.model_scale.predictive == get_scale("tiny").predictive


def test_a_scale_mapping_changes_fields_of_a_named_scale(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("scale: {name: tiny, inpainter: {norm: none}}\n")
    scale = load_config(str(tmp_path / "c.yaml"), check=False).model_scale
    assert scale.inpainter.norm == "none" and scale.inpainter.n_down == 2
    assert scale.predictive == get_scale("tiny").predictive


def test_saved_yaml_loads_to_the_same_config(tmp_path: Path) -> None:
    config = load_config(None, ["scale=tiny", "run=x", "stages.blending.lr_d=0.001"], check=False)
    path = tmp_path / "config.yaml"
    path.write_text(config_yaml(config))
    assert yaml.safe_load(path.read_text())["scale"]["image_size"] == 64
    loaded = load_config(str(path), check=False)
    assert loaded.model_scale == config.model_scale  # the scale is saved resolved
    assert loaded.model_dump(exclude={"scale"}) == config.model_dump(exclude={"scale"})


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("losses.vgg_weights=/nowhere/vgg19.pth", "/nowhere/vgg19.pth"),
        ("resume=/nowhere/step-000010.pt", "/nowhere/step-000010.pt"),
        ("dataset=absent", "datasets/absent/shards"),
    ],
)
def test_missing_file_is_one_clear_error(studio_root: str, override: str, field: str) -> None:
    with pytest.raises(FileNotFoundError, match=field) as info:
        load_config(None, [f"root={studio_root}", "scale=tiny", override])
    assert str(info.value).startswith("training input not found")


def test_present_files_pass(studio_root: str) -> None:
    check_files(load_config(None, [f"root={studio_root}"], check=False))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["scale=huge"], "unknown model scale"),
        (["device=gpu"], "device"),
        (["run=a/b"], "run must be a plain name"),
        (["stages.inpainter.views=3", "batch_size=8"], "multiple of views"),
        (
            ["stages.inpainter.steps=0", "stages.predictive.steps=0", "stages.blending.steps=0"],
            "nothing to train",
        ),
        (["bogus=1"], "bogus"),
    ],
)
def test_bad_values_name_the_field(overrides: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(None, overrides, check=False)


def test_bad_override_syntax() -> None:
    with pytest.raises(ValueError, match=r"KEY\.PATH=VALUE"):
        apply_override({}, "seed")
    with pytest.raises(ValueError, match="no mapping"):
        apply_override({"seed": 1}, "seed.x=2")


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        load_config(str(tmp_path / "missing.yaml"))
