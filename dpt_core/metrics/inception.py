"""FID and Inception Score with pytorch-fid's Inception weights (``pt_inception-2015-12-05-*.pth``).

That file is the TensorFlow 2015-12-05 Inception graph ported to torchvision's ``Inception3``
key names (``Conv2d_1a_3x3.conv.weight`` … ``Mixed_7c.*``, ``fc.weight`` with 1008 classes, no
``AuxLogits``). The port differs from torchvision's network in its pooling: the average pools
inside Mixed_5b–5d, 6b–6e and 7b exclude the padding from the average, and Mixed_7c's pool
branch is a max pool. Images in [0, 1] are resized to 299×299 (bilinear) and mapped to [-1, 1].

FID (Heusel et al. 2017) compares mean and covariance of the 2048-d pool features; IS (Salimans
et al. 2016) uses the softmax of the 1008 logits computed without the fc bias, as the original
TensorFlow code does, over 10 splits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.inception import Inception3, InceptionA, InceptionC, InceptionE

from dpt_core.metrics._common import MetricWeights, NotComputed, check_state_shapes, load_state_dict
from dpt_core.metrics.image import ImageLike, as_images_bchw

log = logging.getLogger(__name__)

FID_INPUT_SIZE = 299
FEATURE_DIM = 2048
N_CLASSES = 1008
# Inception3 children run, in order, up to the 8×8×2048 map that the pool3 features average.
_POOL3_LAYERS = (
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
    "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
    "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c",
)  # fmt: skip


def _avg_pool_no_pad(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


def _max_pool(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


class _FidInceptionA(InceptionA):
    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return [self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool_no_pad(x))]


class _FidInceptionC(InceptionC):
    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7d = self.branch7x7dbl_2(self.branch7x7dbl_1(x))
        b7d = self.branch7x7dbl_5(self.branch7x7dbl_4(self.branch7x7dbl_3(b7d)))
        return [self.branch1x1(x), b7, b7d, self.branch_pool(_avg_pool_no_pad(x))]


class _FidInceptionE(InceptionE):
    def __init__(self, in_channels: int, pool: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__(in_channels)
        self.pool = pool

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        b3d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3d = torch.cat([self.branch3x3dbl_3a(b3d), self.branch3x3dbl_3b(b3d)], 1)
        return [self.branch1x1(x), b3, b3d, self.branch_pool(self.pool(x))]


def _fid_inception3() -> Inception3:
    net = Inception3(num_classes=N_CLASSES, aux_logits=False, init_weights=False)
    for name, channels, pool_features in (
        ("Mixed_5b", 192, 32),
        ("Mixed_5c", 256, 64),
        ("Mixed_5d", 288, 64),
    ):
        setattr(net, name, _FidInceptionA(channels, pool_features))
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        setattr(net, name, _FidInceptionC(768, c7))
    net.Mixed_7b = _FidInceptionE(1280, _avg_pool_no_pad)
    net.Mixed_7c = _FidInceptionE(2048, _max_pool)
    return net


class FidInception(nn.Module):
    """Inception v3 of pytorch-fid; call on images in [0, 1] → (pool ``(B, 2048)``, logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = _fid_inception3()
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_file(cls, url: str) -> FidInception:
        """Load pytorch-fid's weight file; ValueError naming ``url`` and the key on a mismatch."""
        model = cls()
        state = load_state_dict(url, "inception")
        expected = {k: v for k, v in model.net.state_dict().items() if "num_batches" not in k}
        check_state_shapes(expected, state, url, "inception")
        model.net.load_state_dict({k: state[k] for k in expected}, strict=False)
        log.info("FID Inception loaded from %s", url)
        return model

    def forward(self, images: ImageLike) -> tuple[torch.Tensor, torch.Tensor]:
        """(pool features ``(B, 2048)``, bias-free logits ``(B, 1008)``), float32."""
        device = self.net.fc.weight.device
        x = as_images_bchw(images, "images").to(device)
        x = (
            F.interpolate(
                x, size=(FID_INPUT_SIZE, FID_INPUT_SIZE), mode="bilinear", align_corners=False
            )
            * 2.0
            - 1.0
        )
        for name in _POOL3_LAYERS:
            x = getattr(self.net, name)(x)
        pool_bd = x.mean((2, 3))
        return pool_bd, pool_bd @ self.net.fc.weight.T


def load_inception(weights: MetricWeights | None) -> FidInception | NotComputed:
    """The FID/IS network from configured weights, or ``NotComputed`` with the reason."""
    if weights is None or not weights.inception:
        return NotComputed("no Inception weights configured (MetricWeights.inception)")
    return FidInception.from_file(weights.inception)
