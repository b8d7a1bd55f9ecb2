"""``image-folder``: any tree of images; the person id is the first sub-folder when asked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dpt_core.data.layouts.base import (
    Rejected,
    SourceSample,
    image_entries,
    key_or_rejected,
    split_ext,
)


@dataclass(frozen=True)
class ImageFolderLayout:
    """Every image below SRC; key from its relative path (``a/b/c.jpg`` -> ``a__b__c``).

    With ``person_from_folder`` the first sub-folder names the person (images directly in
    SRC then have no person id).
    """

    person_from_folder: bool = False
    name: str = "image-folder"
    default_size: tuple[int, int] | None = None
    carries_extras: bool = False

    def scan(self, src_url: str) -> Iterator[SourceSample | Rejected]:
        for entry in image_entries(src_url):
            parts = entry.rel.split("/")
            key = key_or_rejected(entry, [*parts[:-1], split_ext(parts[-1])[0]])
            if isinstance(key, Rejected):
                yield key
                continue
            person = parts[0] if self.person_from_folder and len(parts) > 1 else None
            yield SourceSample(
                key=key,
                url=entry.url,
                size=entry.size,
                version=entry.version,
                person_id=person,
                meta={"path": entry.rel},
            )
