"""Shared pieces of the metrics: the "not computed" result, weight paths, weight-file loading."""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from dpt_core import storage

log = logging.getLogger(__name__)

NOT_COMPUTED = "not computed"


@dataclass(frozen=True)
class NotComputed:
    """A metric that could not be computed, with the reason; ``str()`` is the table cell."""

    reason: str

    def __str__(self) -> str:
        return f"{NOT_COMPUTED}: {self.reason}"


@dataclass(frozen=True)
class MetricWeights:
    """Where the network weights of the learned metrics live (paths or fsspec URLs).

    lpips_linear:   the ``lpips`` package's v0.1 linear-layer file (``alex.pth`` / ``vgg.pth``).
    lpips_backbone: torchvision's ImageNet weights of the same backbone
                    (``alexnet-owt-7be5be79.pth`` / ``vgg16-397923af.pth``); only
                    ``features.*`` keys are read, so a features-only file is enough.
    lpips_net:      ``"alex"`` (the ``lpips`` default) or ``"vgg"``.
    inception:      pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (FID and IS).
    """

    lpips_linear: str | None = None
    lpips_backbone: str | None = None
    lpips_net: str = "alex"
    inception: str | None = None


def load_state_dict(url: str, name: str) -> dict[str, torch.Tensor]:
    """Read a ``torch.save``-d state dict of tensors from ``url`` (argument ``name``) on CPU.

    Raises FileNotFoundError naming the URL when it is missing and ValueError when the file is
    not a mapping of names to tensors. Only tensors are unpickled (``weights_only=True``).
    """
    data = storage.read_bytes(url)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupt file
        raise ValueError(f"{name}: {url} is not a readable torch weight file ({exc})") from exc
    if isinstance(state, Mapping) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise ValueError(f"{name}: {url} does not hold a state dict of tensors")
    log.info("loaded %d tensors for %s from %s", len(state), name, url)
    return dict(state)


def check_state_shapes(
    expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor], url: str, name: str
) -> None:
    """ValueError naming ``url`` and the first missing key or wrongly shaped tensor."""
    missing = sorted(set(expected) - set(found))
    if missing:
        raise ValueError(f"{name}: {url} lacks {len(missing)} expected keys, e.g. {missing[:3]}")
    for key, ref in expected.items():
        if tuple(found[key].shape) != tuple(ref.shape):
            raise ValueError(
                f"{name}: {url} key {key!r} has shape {tuple(found[key].shape)}, "
                f"expected {tuple(ref.shape)}"
            )
