"""Fixtures for the model and loss tests: tiny-scale inputs and a random VGG-19 weights file."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.vgg import cfgs, make_layers

from dpt_core.models.scales import ModelScale, get_scale


def make_iuv(batch: int, size: int, seed: int, border: int = 4) -> torch.Tensor:
    """(B, 3, size, size) int64 IUV: a 6×4 grid of random parts with U, V ramping 0..255 per
    cell, and a background border of ``border`` pixels."""
    gen = torch.Generator().manual_seed(seed)
    inner = size - 2 * border
    pos = torch.arange(inner)
    cell_r, cell_c = pos * 6 // inner, pos * 4 // inner
    parts = torch.randint(1, 25, (batch, 6, 4), generator=gen)
    part_map = parts[:, cell_r][:, :, cell_c]
    frac_r = (pos * 6 % inner).float() / inner  # position inside the cell, 0..1
    frac_c = (pos * 4 % inner).float() / inner
    u = (frac_c[None, :] * 255).round().long().expand(inner, inner)
    v = (255 - frac_r[:, None] * 255).round().long().expand(inner, inner)
    iuv = torch.zeros(batch, 3, size, size, dtype=torch.long)
    iuv[:, 0, border:-border, border:-border] = part_map
    iuv[:, 1, border:-border, border:-border] = u
    iuv[:, 2, border:-border, border:-border] = v
    return iuv


def smooth_images(batch: int, size: int, seed: int) -> torch.Tensor:
    """(B, 3, size, size) float images in [-1, 1]: random 8×8 colours upsampled bilinearly."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, 8, 8, generator=gen) * 2 - 1
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run model tests on one intra-op thread (restored after): on a shared, busy CPU, oneDNN's
    spinning worker threads make multi-threaded steps over ten times slower, not faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def iuv_factory():
    """``make_iuv(batch, size, seed)``."""
    return make_iuv


@pytest.fixture
def image_factory():
    """``smooth_images(batch, size, seed)``."""
    return smooth_images


@pytest.fixture
def tiny() -> ModelScale:
    return get_scale("tiny")


@pytest.fixture
def tiny_batch(tiny: ModelScale) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(source (4, 3, 64, 64) in [-1, 1], source IUV, target IUV) at tiny scale."""
    size = tiny.image_size
    return smooth_images(4, size, 0), make_iuv(4, size, 1), make_iuv(4, size, 2)


@pytest.fixture(scope="session")
def vgg_state() -> dict[str, torch.Tensor]:
    """A random VGG-19 ``features`` state dict in torchvision's key format."""
    torch.manual_seed(123)
    features = make_layers(cfgs["E"])
    return {f"features.{k}": v for k, v in features.state_dict().items()}


@pytest.fixture(scope="session")
def vgg_file(vgg_state: dict[str, torch.Tensor], tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of ``vgg_state`` saved with ``torch.save`` (as torchvision's vgg19 weights are)."""
    path = tmp_path_factory.mktemp("vgg") / "vgg19_random.pth"
    torch.save(vgg_state, path)
    return str(path)
