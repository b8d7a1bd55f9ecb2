"""Shared studio renders (session-scoped: rendered once, read by many tests)."""

from __future__ import annotations

import dataclasses

import pytest

from dpt_core.studio import StudioBatch, make_identity, make_scene, render_samples, scene_grid


@pytest.fixture(scope="session")
def unlit_batch() -> StudioBatch:
    """3 identities × 2 poses × 4 views at 64 px, atlas colours unshaded; hair and clothes keep
    I = 0 (``clothing="none"``), so every I > 0 pixel shows its own atlas texel."""
    return render_samples(
        identities=3, poses=2, views=4, size=64, seed=5, lit=False, clothing="none"
    )


@pytest.fixture(scope="session")
def lit_batch() -> StudioBatch:
    """The same scenes as ``unlit_batch``, shaded."""
    return render_samples(identities=3, poses=2, views=4, size=64, seed=5, clothing="none")


@pytest.fixture(scope="session")
def scenes_seed5():
    return scene_grid(3, 2, 4, seed=5)


@pytest.fixture(scope="session")
def body_only_scenes():
    """2 identities without hair or clothes × 6 poses × 8 views (yaw over 360°)."""
    people = [dataclasses.replace(make_identity(i, 0), extras=()) for i in range(2)]
    return [make_scene(p, pose, view, 8) for p in people for pose in range(6) for view in range(8)]
