"""Dataset layouts: readers that turn a source tree into samples to shard.

Layouts are registered here explicitly; :func:`get_layout` builds one by name.
"""

from __future__ import annotations

from typing import Any

from dpt_core.data.layouts.base import (
    IMAGE_EXTENSIONS,
    FileEntry,
    Layout,
    Rejected,
    SourceSample,
    make_key,
    walk_files,
)
from dpt_core.data.layouts.deepfashion import DeepFashionInShopLayout
from dpt_core.data.layouts.image_folder import ImageFolderLayout
from dpt_core.data.layouts.market1501 import Market1501Layout
from dpt_core.data.layouts.patn import PatnPairsLayout
from dpt_core.data.layouts.studio import StudioLayout

LAYOUTS: dict[str, type] = {
    "image-folder": ImageFolderLayout,
    "deepfashion-inshop": DeepFashionInShopLayout,
    "patn-pairs": PatnPairsLayout,
    "market1501": Market1501Layout,
    "studio": StudioLayout,
}


def get_layout(name: str, **options: Any) -> Layout:
    """The layout called ``name`` with its options (``person_from_folder`` for image-folder)."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; choose one of {', '.join(LAYOUTS)}")
    try:
        return LAYOUTS[name](**options)
    except TypeError as exc:
        raise ValueError(f"layout {name!r} does not take options {sorted(options)}") from exc


__all__ = [
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "FileEntry",
    "Layout",
    "Rejected",
    "SourceSample",
    "get_layout",
    "make_key",
    "walk_files",
]
