"""How closely two renders of the same requests agree, and the tolerance the project promises.

Re-running a stage with the same settings on the same machine gives the same bytes. Renders
made with another batch size, thread count or CPU run other floating-point kernels (oneDNN and
BLAS pick code paths by CPU features and by shape), so they agree only within
``RENDER_TOLERANCE``: no value more than 1 grey level apart, at least 99.9 % of pixels equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Tolerance:
    """``max_abs``: largest allowed |a - b| of any value (in the arrays' units);
    ``max_fraction``: largest allowed fraction of pixels with any value differing."""

    max_abs: float
    max_fraction: float

    def __str__(self) -> str:
        return f"max |a-b| <= {self.max_abs:g}, <= {self.max_fraction:.3%} of pixels differ"


# 8-bit renders (and any other uint8 model output) across batch sizes, thread counts and CPUs.
RENDER_TOLERANCE = Tolerance(max_abs=1, max_fraction=1e-3)
# CPU against CUDA renders: the bound of the CUDA test, no fraction bound; not yet measured on a
# GPU (README, Status).
CUDA_RENDER_TOLERANCE = Tolerance(max_abs=3, max_fraction=1.0)


@dataclass(frozen=True)
class Agreement:
    """Measured difference of two arrays: largest |a - b|, fraction of differing pixels."""

    max_abs: float
    fraction: float
    pixels: int

    def within(self, tolerance: Tolerance) -> bool:
        """True when both figures are inside ``tolerance``."""
        return self.max_abs <= tolerance.max_abs and self.fraction <= tolerance.max_fraction

    def __str__(self) -> str:
        return f"max |a-b| = {self.max_abs:g}, {self.fraction:.4%} of {self.pixels} pixels differ"


def _as_float64(x: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def agreement(
    a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, channel_axis: int | None = -1
) -> Agreement:
    """Compare two arrays of one shape (e.g. (B, H, W, 3) uint8 RGB); a pixel differs when any
    of its values along ``channel_axis`` differs (``None``: every value is a pixel)."""
    a64, b64 = _as_float64(a), _as_float64(b)
    if a64.shape != b64.shape:
        raise ValueError(f"agreement: shapes differ: {a64.shape} and {b64.shape}")
    if a64.size == 0:
        raise ValueError("agreement: empty arrays")
    diff = np.abs(a64 - b64)
    differs = diff > 0 if channel_axis is None else (diff > 0).any(axis=channel_axis)
    return Agreement(float(diff.max()), float(differs.mean()), int(differs.size))


def assert_agree(
    a: np.ndarray | torch.Tensor,
    b: np.ndarray | torch.Tensor,
    tolerance: Tolerance = RENDER_TOLERANCE,
    what: str = "arrays",
    channel_axis: int | None = -1,
) -> Agreement:
    """``agreement(a, b)``; AssertionError naming ``what``, the figures and the tolerance when
    they are outside it (for tests and checks)."""
    found = agreement(a, b, channel_axis)
    if not found.within(tolerance):
        raise AssertionError(f"{what}: {found}; tolerance: {tolerance}")
    return found
