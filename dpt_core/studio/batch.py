"""``StudioBatch``: rendered samples with their exact ground truth, as tensors."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True, eq=False)
class StudioBatch:
    """B rendered samples (CPU tensors) and the ground-truth atlases of their identities.

    rgb (B, 3, H, W) uint8; iuv (B, 3, H, W) uint8 holding (I, U, V), U and V quantised by
    ``iuv.quantize_uv``, U = V = 0 where I = 0; mask (B, 1, H, W) bool (body, hair and loose
    clothes); depth (B, 1, H, W) float32, metres along the camera axis, 0 on background. ``atlases``
    (n_identities, 3, 6n, 4n) uint8 are the full textures of ``atlas_identity`` (identity ids);
    sample b uses ``atlases[atlas_index[b]]``.
    """

    rgb: torch.Tensor
    iuv: torch.Tensor
    mask: torch.Tensor
    depth: torch.Tensor
    identity: torch.Tensor  # (B,) int64
    pose_index: torch.Tensor  # (B,) int64
    view: torch.Tensor  # (B,) int64
    yaw_deg: torch.Tensor  # (B,) float32
    pose_names: tuple[str, ...]
    keys: tuple[str, ...]
    atlases: torch.Tensor
    atlas_identity: torch.Tensor  # (n_identities,) int64
    atlas_index: torch.Tensor  # (B,) int64

    def __len__(self) -> int:
        return int(self.rgb.shape[0])

    def sample_atlases(self) -> torch.Tensor:
        """The atlas of every sample, (B, 3, 6n, 4n) uint8."""
        return self.atlases[self.atlas_index]

    def person_ids(self) -> list[str]:
        """``id{identity:05d}`` of every sample."""
        return [f"id{int(i):05d}" for i in self.identity]
