"""The CPU-kernel switches `make test-determinism` relies on are in force.

`ATEN_CPU_CAPABILITY` picks torch's own vectorised kernels, `ONEDNN_MAX_CPU_ISA` caps oneDNN
(convolutions): together they make an AVX-512 machine run the kernels of an AVX2-only or of a
baseline x86-64 CPU. If a torch upgrade ignored them, the reruns would silently test nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import torch

ONEDNN_ISA_NAMES = {"AVX2": "Intel AVX2", "SSE41": "Intel SSE4.1"}  # ONEDNN_VERBOSE's words
_PROBE = (
    "import torch\n"
    "print('capability:' + torch.backends.cpu.get_cpu_capability())\n"
    "torch.nn.functional.conv2d(torch.ones(2, 16, 16, 16), torch.ones(16, 16, 3, 3))\n"
)


def _kernels_in(env: dict[str, str]) -> tuple[str, str]:
    """(torch's CPU capability, oneDNN's ISA) of a child process run with ``env``."""
    env = {**os.environ, **env, "ONEDNN_VERBOSE": "1"}
    child = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, child.stderr[-2000:]
    capability = re.search(r"^capability:(\S+)$", child.stdout, re.M)
    isa = re.search(r"^onednn_verbose,.*,cpu,isa:(.+)$", child.stdout, re.M)
    assert capability and isa, child.stdout[-2000:]
    return capability.group(1), isa.group(1).strip()


@pytest.mark.determinism
def test_this_run_has_the_kernels_its_environment_asks_for() -> None:
    capability, isa = os.environ.get("ATEN_CPU_CAPABILITY"), os.environ.get("ONEDNN_MAX_CPU_ISA")
    if not (capability or isa):
        pytest.skip("no kernel switch set (make test-determinism sets them)")
    if capability:
        assert torch.backends.cpu.get_cpu_capability() == capability.upper()
    if isa:
        assert _kernels_in({})[1] == ONEDNN_ISA_NAMES[isa.upper()]


@pytest.mark.determinism
@pytest.mark.parametrize(("capability", "isa"), [("avx2", "AVX2"), ("default", "SSE41")])
def test_the_switches_select_older_kernels(capability: str, isa: str) -> None:
    env = {"ATEN_CPU_CAPABILITY": capability, "ONEDNN_MAX_CPU_ISA": isa}
    assert _kernels_in(env) == (capability.upper(), ONEDNN_ISA_NAMES[isa])
