"""Sizes of the flow tests' shared whole-DAG run (a module of its own: test files import it,
and `conftest` is not a unique module name across test folders)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = str(REPO / "configs" / "train" / "tiny.yaml")
IDENTITIES, POSES, VIEWS, SHARD_SIZE, RENDERS = 3, 2, 2, 4, 4
