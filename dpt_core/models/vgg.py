"""VGG-19 feature extractor for the perceptual and style losses, loaded from a weights file.

No weights ship with the project and nothing is downloaded: ``vgg_weights`` names a file in one
of two layouts, told apart by its keys (``dpt_core.models.vgg_weights``):

* torchvision: ``torchvision.models.vgg19().state_dict()`` (``features.0.weight``, ...; e.g.
  ``vgg19-dcbb9e9d.pth``). Input: RGB in [0, 1], ImageNet mean / std normalised;
* Caffe: the Oxford VGG release ``VGG_ILSVRC_19_layers.caffemodel``, or a state dict / ``.npz``
  with its layer names (``conv1_1.weight``, ``conv1_1.bias``, ... ``conv5_4.bias``). Input: BGR
  in 0..255 minus the mean pixel ``CAFFE_MEAN_BGR``, no std division.

``VGG19Features.normalize`` applies the input convention of the loaded layout; ``preprocess``
overrides it (e.g. Caffe weights renamed to torchvision keys, which still expect Caffe input).
Classifier / fc layers are ignored and only the convolutions up to the deepest requested layer
are built. Names: ``relu{block}_{index}`` (``relu3_4`` = ``features.17``) and Caffe's
``conv{block}_{index}`` (``conv1_1`` = ``features.0``). Max-pooling rounds down as torchvision
does (Caffe rounds up; the same for image sides divisible by 16).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from dpt_core import storage
from dpt_core.models.vgg_weights import LAYOUTS, Layout, detect_layout, read_weights

logger = logging.getLogger(__name__)

# torchvision's VGG-19 ("E") feature configuration: conv widths, "M" = 2×2 max-pool
_VGG19_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                     512, 512, 512, 512, "M", 512, 512, 512, 512, "M")  # fmt: skip

DEFAULT_LAYERS: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # the Oxford VGG release's mean pixel, 0..255


def _layer_table() -> tuple[list[tuple[str, int, int]], dict[str, int], dict[int, str]]:
    """(per ``features`` index: (kind, in, out) with kind conv/relu/pool; relu name -> index;
    conv index -> Caffe name)."""
    specs: list[tuple[str, int, int]] = []
    relu_index: dict[str, int] = {}
    conv_names: dict[int, str] = {}
    block, k, channels = 1, 1, 3
    for item in _VGG19_CFG:
        if item == "M":
            specs.append(("pool", 0, 0))
            block, k = block + 1, 1
            continue
        conv_names[len(specs)] = f"conv{block}_{k}"
        specs.append(("conv", channels, int(item)))
        relu_index[f"relu{block}_{k}"] = len(specs)
        specs.append(("relu", 0, 0))
        channels, k = int(item), k + 1
    return specs, relu_index, conv_names


_SPECS, RELU_INDEX, CONV_NAMES = _layer_table()


def imagenet_normalize(images_pm1: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (B, 3, H, W) -> ImageNet-normalised VGG input."""
    mean = images_pm1.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = images_pm1.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((images_pm1 + 1.0) * 0.5 - mean) / std


def caffe_normalize(images_pm1: torch.Tensor) -> torch.Tensor:
    """RGB images in [-1, 1] (B, 3, H, W) -> Caffe VGG input: BGR, 0..255 minus the mean pixel."""
    mean = images_pm1.new_tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    return (images_pm1.flip(1) + 1.0) * 127.5 - mean


class VGG19Features(nn.Module):
    """Frozen, truncated VGG-19 ``features``; forward returns the requested ReLU outputs in order.

    Forward input: (B, 3, H, W) already in the network's convention; ``normalize`` makes it from
    RGB images in [-1, 1] (``preprocess``: ``"torchvision"`` or ``"caffe"``). Weights are random
    until ``load_state`` / ``from_file``, which also set ``layout`` (the file's key layout) and
    ``source``. Parameters never require grad; gradients reach the input.
    """

    def __init__(
        self, layers: Sequence[str] = DEFAULT_LAYERS, preprocess: Layout = "torchvision"
    ) -> None:
        super().__init__()
        unknown = [name for name in layers if name not in RELU_INDEX]
        if not layers or unknown:
            raise ValueError(f"layers: unknown VGG-19 layers {unknown}; known: {list(RELU_INDEX)}")
        if preprocess not in LAYOUTS:
            raise ValueError(f"preprocess: expected one of {LAYOUTS}, got {preprocess!r}")
        self.layers = tuple(layers)
        self.indices = [RELU_INDEX[name] for name in self.layers]
        self.preprocess: Layout = preprocess
        self.layout: Layout | None = None
        self.source: str | None = None
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
    def from_file(
        cls,
        url: str,
        layers: Sequence[str] = DEFAULT_LAYERS,
        preprocess: Layout | Literal["auto"] = "auto",
    ) -> VGG19Features:
        """Load a torchvision- or Caffe-layout file at ``url`` (path or fsspec URL); ``"auto"``
        preprocessing follows the layout found."""
        if preprocess != "auto" and preprocess not in LAYOUTS:
            raise ValueError(f"preprocess: expected 'auto' or one of {LAYOUTS}, got {preprocess!r}")
        model = cls(layers)
        wanted = [name for i, name in CONV_NAMES.items() if i < len(model.features)]
        layout = model.load_state(read_weights(url, wanted), source=url)
        model.preprocess = layout if preprocess == "auto" else preprocess
        logger.info(
            "loaded VGG-19 features up to %s from %s (%s layout, %s preprocessing)",
            model.layers[-1], storage.redact(url), layout, model.preprocess,
        )  # fmt: skip
        return model

    def load_state(self, state: dict[str, torch.Tensor], source: str = "state dict") -> Layout:
        """Copy the built convs' weights from ``state`` (either layout); returns the layout.

        Raises ValueError naming the first missing key or the first tensor of the wrong shape.
        """
        layout = detect_layout(state, source)
        own = self.features.state_dict()
        for key, param in own.items():
            index, kind = key.split(".")
            name = (
                f"features.{key}" if layout == "torchvision" else f"{CONV_NAMES[int(index)]}.{kind}"
            )
            value = state.get(name)
            if value is None:
                raise ValueError(f"{source}: missing VGG-19 key {name!r}")
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"{source}: {name!r} is a {type(value).__name__}, not a tensor")
            if kind == "bias" and value.ndim > 1 and value.squeeze().shape == param.shape:
                value = value.reshape(param.shape)  # legacy Caffe (1, 1, 1, C) bias blobs
            if tuple(value.shape) != tuple(param.shape):
                raise ValueError(
                    f"{source}: {name!r} has shape {tuple(value.shape)}, "
                    f"expected {tuple(param.shape)} (not a VGG-19 checkpoint?)"
                )
            own[key] = value
        self.features.load_state_dict(own)
        self.layout, self.source = layout, source
        return layout

    def normalize(self, images_pm1: torch.Tensor) -> torch.Tensor:
        """RGB images in [-1, 1] (B, 3, H, W) -> this network's input convention."""
        if self.preprocess == "caffe":
            return caffe_normalize(images_pm1)
        return imagenet_normalize(images_pm1)

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
