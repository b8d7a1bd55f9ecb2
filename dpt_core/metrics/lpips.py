"""LPIPS (Zhang et al. 2018, v0.1) with weights in the ``lpips`` package's file format.

Two files are needed, both given by the user (no download ever happens):
- the linear layers, ``lpips/weights/v0.1/{alex,vgg}.pth`` — keys ``lin{k}.model.1.weight``,
  shape ``(1, C_k, 1, 1)``, one per compared layer;
- the ImageNet backbone in torchvision's format (``features.{i}.weight`` / ``.bias``); other keys
  (the classifier) are ignored.

The distance: images in [0, 1] → [-1, 1] → ``(x - shift) / scale`` → backbone features at five
ReLUs → each unit-normalised over channels → squared difference → per-layer 1×1 linear weights
→ spatial mean → sum over layers. 0 for identical images.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from dpt_core.metrics._common import MetricWeights, NotComputed, check_state_shapes, load_state_dict
from dpt_core.metrics.image import ImageLike, as_image_pair

log = logging.getLogger(__name__)

LPIPS_NETS = ("alex", "vgg")
LINEAR_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
# torchvision ``features`` indices of the ReLUs whose outputs LPIPS compares.
FEATURE_TAPS = {"alex": (1, 4, 7, 9, 11), "vgg": (3, 8, 15, 22, 29)}
MIN_SIDE = {"alex": 32, "vgg": 16}
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10
_VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


def _alexnet_features() -> nn.Sequential:
    """torchvision AlexNet ``features[0:12]`` (same indices, so its keys load unchanged)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
    )  # fmt: skip


def _vgg16_features() -> nn.Sequential:
    """torchvision VGG-16 ``features[0:30]`` (up to relu5_3)."""
    layers: list[nn.Module] = []
    channels = 3
    for item in _VGG16_CFG:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU()]
            channels = int(item)
    return nn.Sequential(*layers)


class LPIPS(nn.Module):
    """LPIPS distance; call it on two image batches in [0, 1] to get ``(B,)`` distances."""

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        if net not in LPIPS_NETS:
            raise ValueError(f"net: expected one of {LPIPS_NETS}, got {net!r}")
        self.net = net
        self.features = _alexnet_features() if net == "alex" else _vgg16_features()
        self.lins = nn.ParameterList(
            nn.Parameter(torch.zeros(1, c, 1, 1)) for c in LINEAR_CHANNELS[net]
        )
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_files(cls, linear_url: str, backbone_url: str, net: str = "alex") -> LPIPS:
        """Build and load from the ``lpips`` linear-layer file and a torchvision backbone file."""
        model = cls(net)
        model.load_linear(load_state_dict(linear_url, "lpips_linear"), linear_url)
        model.load_backbone(load_state_dict(backbone_url, "lpips_backbone"), backbone_url)
        log.info("LPIPS-%s ready (linear %s, backbone %s)", net, linear_url, backbone_url)
        return model

    def load_linear(self, state: dict[str, torch.Tensor], url: str = "<state>") -> None:
        """Copy ``lin{k}.model.1.weight`` tensors in; ValueError naming ``url`` on a mismatch."""
        expected = {f"lin{k}.model.1.weight": p for k, p in enumerate(self.lins)}
        check_state_shapes(expected, state, url, "lpips_linear")
        for key, param in expected.items():
            param.copy_(state[key])

    def load_backbone(self, state: dict[str, torch.Tensor], url: str = "<state>") -> None:
        """Copy torchvision ``features.*`` tensors in; ValueError naming ``url`` on a mismatch."""
        expected = {f"features.{k}": v for k, v in self.features.state_dict().items()}
        check_state_shapes(expected, state, url, "lpips_backbone")
        self.features.load_state_dict({k[len("features.") :]: state[k] for k in expected})

    def _taps(self, images_bchw: torch.Tensor) -> list[torch.Tensor]:
        x = (images_bchw * 2.0 - 1.0 - self.shift) / self.scale
        taps, wanted = [], set(FEATURE_TAPS[self.net])
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in wanted:
                taps.append(x / (x.square().sum(1, keepdim=True).sqrt() + _EPS))
        return taps

    def forward(self, pred: ImageLike, target: ImageLike) -> torch.Tensor:
        """LPIPS per image pair, ``(B,)`` float32 ≥ 0 (differentiable w.r.t. the images)."""
        pred_bchw, target_bchw = (t.to(self.shift.device) for t in as_image_pair(pred, target))
        if min(pred_bchw.shape[-2:]) < MIN_SIDE[self.net]:
            raise ValueError(
                f"pred: LPIPS-{self.net} needs at least {MIN_SIDE[self.net]} px per side, "
                f"got {tuple(pred_bchw.shape[-2:])}"
            )
        batch = pred_bchw.shape[0]
        taps = zip(self._taps(torch.cat([pred_bchw, target_bchw])), self.lins, strict=True)
        per_layer = [
            nn.functional.conv2d((f[:batch] - f[batch:]).square(), lin).mean((1, 2, 3))
            for f, lin in taps
        ]
        return torch.stack(per_layer).sum(0)


def load_lpips(weights: MetricWeights | None) -> LPIPS | NotComputed:
    """LPIPS from configured weights, or ``NotComputed`` saying which path is not configured.

    A configured but missing or malformed file raises (FileNotFoundError / ValueError): a
    wrong path is a user error, not a silent gap in the report.
    """
    if weights is None or not weights.lpips_linear:
        return NotComputed("no LPIPS linear-layer weights configured (MetricWeights.lpips_linear)")
    if not weights.lpips_backbone:
        return NotComputed("no LPIPS backbone weights configured (MetricWeights.lpips_backbone)")
    return LPIPS.from_files(weights.lpips_linear, weights.lpips_backbone, weights.lpips_net)
