"""Figures of the reliability suites: what was tried, injected, killed, refused, and lost.

The suites add to the process-wide :data:`FIGURES` as they run; ``conftest.py`` writes them
as JSON at the end of the session (``<pytest basetemp>/reliability-figures.json``, and the
path in ``DPT_RELIABILITY_FIGURES`` when set) and echoes them in the terminal summary, so
every number in RELIABILITY.md comes from a command.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

SECTIONS = ("bad_inputs", "kills", "storage_faults", "untrusted", "credentials")
ZEROS = {  # counters reported even when nothing happened: the ones that must stay 0
    "bad_inputs": ("crashes", "lost"),
    "kills": ("outputs_differing", "partial_outputs_visible"),
    "storage_faults": ("partial_outputs",),
    "credentials": ("leaks",),
}


class Figures:
    """Thread-safe counters grouped by section (``bad_inputs``, ``kills``, ...)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: defaultdict[str, Counter] = defaultdict(Counter)

    def add(self, section: str, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name`` of ``section``."""
        if section not in SECTIONS:
            raise ValueError(f"unknown figures section {section!r}; expected one of {SECTIONS}")
        with self._lock:
            self._counts[section][name] += n

    def get(self, section: str, name: str) -> int:
        with self._lock:
            return self._counts[section][name]

    def as_dict(self) -> dict[str, Any]:
        """``{section: {name: count}}`` plus ``data_lost`` (inputs neither kept nor logged,
        outputs differing after a kill, partial outputs left by a failed stage)."""
        with self._lock:
            out = {
                s: dict(sorted({**dict.fromkeys(ZEROS.get(s, ()), 0), **self._counts[s]}.items()))
                for s in SECTIONS
                if self._counts[s]
            }
        lost = (
            out.get("bad_inputs", {}).get("lost", 0)
            + out.get("kills", {}).get("outputs_differing", 0)
            + out.get("storage_faults", {}).get("partial_outputs", 0)
        )
        return {**out, "data_lost": lost}

    def empty(self) -> bool:
        with self._lock:
            return not any(self._counts.values())

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(), indent=1, sort_keys=True) + "\n")


FIGURES = Figures()
