"""Typed flow parameters: pydantic-checked before a flow run starts any work.

Prefect validates every flow call (and every deployment run, against the parameter schema
these types produce) with pydantic, so a bad URL, name or count fails the run with a message
naming the parameter, before a task is submitted.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from dpt_core.data.layouts import LAYOUTS
from dpt_core.densepose.options import PERSON_MODES, SOURCES

_SCHEMES = ("file", "s3", "s3a", "memory")
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
# The same rule for the deployment's parameter schema (checked by the server on every run).
STORAGE_URL_PATTERN = r"^(?:(?:file|s3a?|memory)://.+|(?![A-Za-z][\w+.-]*://)\s*\S.*)$"


def check_storage_url(url: str) -> str:
    """A local path or a ``file://`` / ``s3://`` / ``memory://`` URL, without blanks."""
    url = url.strip()
    if not url:
        raise ValueError("must be a non-empty path or URL")
    scheme = re.match(r"^([A-Za-z][\w+.-]*)://", url)
    if scheme and scheme.group(1).lower() not in _SCHEMES:
        raise ValueError(f"unsupported scheme {scheme.group(1)!r}: use a path or {_SCHEMES}")
    if scheme and not url[scheme.end() :].strip("/"):
        raise ValueError(f"{scheme.group(0)} needs a bucket or path after it")
    return url


StorageUrl = Annotated[
    str,
    AfterValidator(check_storage_url),
    Field(
        description="local path or URL (file://, s3://, memory://)",
        json_schema_extra={"pattern": STORAGE_URL_PATTERN},
    ),
]
DatasetName = Annotated[
    str, Field(pattern=_NAME, description="data set name ([A-Za-z0-9_-], no dots)")
]
RunName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
PositiveInt = Annotated[int, Field(ge=1)]
AtlasN = Annotated[int, Field(ge=2, le=1024, description="texels per atlas tile side")]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
LayoutName = Literal[tuple(LAYOUTS)]  # type: ignore[valid-type]
IuvSource = Literal[tuple(SOURCES)]  # type: ignore[valid-type]
PersonMode = Literal[tuple(PERSON_MODES)]  # type: ignore[valid-type]
Split = Literal["train", "test"]
