"""All file I/O of dpt, by concern: ``urls`` (fsspec URLs, filesystems, S3 settings, reads),
``commit`` (atomic writes, fingerprints, stage markers) and ``failures`` (the failures log).

Call sites use the package (``from dpt_core import storage``; ``storage.join(...)``); every
public name of the three modules is re-exported here.
"""

from dpt_core.storage.commit import (
    MARKER_SUFFIX,
    fingerprint,
    is_committed,
    mark_committed,
    marker_url,
    open_atomic,
    read_marker,
    remove_stale_temps,
    write_bytes,
)
from dpt_core.storage.failures import (
    FAILURE_COLUMNS,
    Failure,
    append_failures,
    failures_url,
    read_failures,
)
from dpt_core.storage.urls import (
    S3_RETRIES,
    TEMP_PREFIX,
    configure_s3,
    exists,
    join,
    ls,
    makedirs,
    open_read,
    read_bytes,
    redact,
    sha256,
    size,
    url_to_fs,
)

__all__ = [
    "FAILURE_COLUMNS",
    "MARKER_SUFFIX",
    "S3_RETRIES",
    "TEMP_PREFIX",
    "Failure",
    "append_failures",
    "configure_s3",
    "exists",
    "failures_url",
    "fingerprint",
    "is_committed",
    "join",
    "ls",
    "makedirs",
    "mark_committed",
    "marker_url",
    "open_atomic",
    "open_read",
    "read_bytes",
    "read_failures",
    "read_marker",
    "redact",
    "remove_stale_temps",
    "sha256",
    "size",
    "url_to_fs",
    "write_bytes",
]
