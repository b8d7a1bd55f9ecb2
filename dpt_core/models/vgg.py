"""VGG-19 feature extractor for the perceptual and style losses, loaded from a weights file.

No weights ship with the project and nothing is downloaded: the user points ``vgg_weights`` at a
file in torchvision's ``vgg19`` state-dict format (``torchvision.models.vgg19().state_dict()``,
keys ``"features.0.weight"``, ``"features.0.bias"``, ...; classifier keys are ignored). Only the
convolutions up to the deepest requested layer are built and loaded. Layer names follow the
usual convention: ``relu{block}_{index}`` (e.g. ``relu3_4`` = ``features.17``).
"""

from __future__ import annotations

import io
import logging
import pickle
from collections.abc import Sequence

import torch
from torch import nn

from dpt_core import storage

logger = logging.getLogger(__name__)

# torchvision's VGG-19 ("E") feature configuration: conv widths, "M" = 2×2 max-pool
_VGG19_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                     512, 512, 512, 512, "M", 512, 512, 512, 512, "M")  # fmt: skip

DEFAULT_LAYERS: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_table() -> tuple[list[tuple[str, int, int]], dict[str, int]]:
    """(per ``features`` index: (kind, in, out) with kind conv/relu/pool; relu name -> index)."""
    specs: list[tuple[str, int, int]] = []
    relu_index: dict[str, int] = {}
    block, k, channels = 1, 1, 3
    for item in _VGG19_CFG:
        if item == "M":
            specs.append(("pool", 0, 0))
            block, k = block + 1, 1
            continue
        specs.append(("conv", channels, int(item)))
        relu_index[f"relu{block}_{k}"] = len(specs)
        specs.append(("relu", 0, 0))
        channels, k = int(item), k + 1
    return specs, relu_index


_SPECS, RELU_INDEX = _layer_table()


def imagenet_normalize(images_pm1: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (B, 3, H, W) -> ImageNet-normalised VGG input."""
    mean = images_pm1.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = images_pm1.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((images_pm1 + 1.0) * 0.5 - mean) / std


class VGG19Features(nn.Module):
    """Frozen, truncated VGG-19 ``features``; forward returns the requested ReLU outputs in order.

    Input: ImageNet-normalised (B, 3, H, W) (see ``imagenet_normalize``). Weights are random until
    ``load_state`` / ``from_file``; parameters never require grad, gradients reach the input.
    """

    def __init__(self, layers: Sequence[str] = DEFAULT_LAYERS) -> None:
        super().__init__()
        unknown = [name for name in layers if name not in RELU_INDEX]
        if not layers or unknown:
            raise ValueError(f"layers: unknown VGG-19 layers {unknown}; known: {list(RELU_INDEX)}")
        self.layers = tuple(layers)
        self.indices = [RELU_INDEX[name] for name in self.layers]
        modules: list[nn.Module] = []
        for kind, c_in, c_out in _SPECS[: max(self.indices) + 1]:
            if kind == "conv":
                modules.append(nn.Conv2d(c_in, c_out, 3, padding=1))
            elif kind == "relu":
                modules.append(nn.ReLU(inplace=False))
            else:
                modules.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*modules)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_file(cls, url: str, layers: Sequence[str] = DEFAULT_LAYERS) -> VGG19Features:
        """Load from a torchvision ``vgg19`` state dict at ``url`` (path or fsspec URL)."""
        model = cls(layers)
        model.load_state(_read_state_dict(url), source=url)
        logger.info("loaded VGG-19 features up to %s from %s", model.layers[-1], url)
        return model

    def load_state(self, state: dict[str, torch.Tensor], source: str = "state dict") -> None:
        """Copy ``features.N.weight`` / ``features.N.bias`` tensors for the built convs."""
        own = self.features.state_dict()
        for key, param in own.items():
            full = f"features.{key}"
            if full not in state:
                raise ValueError(f"{source}: missing VGG-19 key {full!r}")
            if tuple(state[full].shape) != tuple(param.shape):
                raise ValueError(
                    f"{source}: {full!r} has shape {tuple(state[full].shape)}, "
                    f"expected {tuple(param.shape)} (not a VGG-19 checkpoint?)"
                )
            own[key] = state[full]
        self.features.load_state_dict(own)

    def train(self, mode: bool = True) -> VGG19Features:
        """Stays in eval mode: the loss network is fixed."""
        return super().train(False)

    def forward(self, x_bchw: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        wanted = set(self.indices)
        for index, module in enumerate(self.features):
            x_bchw = module(x_bchw)
            if index in wanted:
                outputs.append(x_bchw)
        order = sorted(self.indices)
        return [outputs[order.index(i)] for i in self.indices]


def _read_state_dict(url: str) -> dict[str, torch.Tensor]:
    try:
        data = storage.read_bytes(url)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"VGG-19 weights file not found: {url}") from exc
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise ValueError(f"{url}: not a readable torch state dict ({exc})") from exc
    if not isinstance(state, dict):
        raise ValueError(f"{url}: expected a state dict, got {type(state).__name__}")
    return state
