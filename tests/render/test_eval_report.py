"""The eval report opened in headless Chromium: tables present, every inlined image decoded.

Skips when Chromium is not installed locally; fails in CI (CI=true), which must install it
(``apt-get install -y chromium``). The screenshot is kept in the test's tmp folder, and copied
to ``$DPT_TEST_ARTIFACTS`` when that is set.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dpt_core.evaluate import evaluate_renders
from dpt_core.render import RenderJob, render_pairs

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip
PROBE = (
    "<script>addEventListener('load',()=>{for(const i of document.images)"
    "{i.setAttribute('data-natural-width',i.naturalWidth)}"
    "document.body.setAttribute('data-probed','yes')})</script></body>"
)


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must install Chromium (apt-get install -y chromium) for this test")
        pytest.skip("Chromium not installed: apt-get install -y chromium")
    return path


def _chromium(binary: str, profile: Path, *args: str) -> str:
    command = [binary, *FLAGS, f"--user-data-dir={profile}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def report(tiny_root) -> Path:
    job = RenderJob(
        tiny_root.root, tiny_root.checkpoint, "report", branches=("pred", "warp", "tex")
    )
    render_pairs(job, limit=3)
    return Path(evaluate_renders(job.url).report_url)


def test_report_is_self_contained(report):
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html and "url(" not in html and "<link" not in html
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == 3 * 6  # 3 samples × (source, target, pred, warp, blend, texture)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    link = re.search(r'<a id="sheet" href="([^"]+)"', html).group(1)
    assert (report.parent / link).is_file()  # the contact sheet beside the report


def test_report_renders_in_chromium(chromium, report, tmp_path):
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text(encoding="utf-8").replace("</body>", PROBE), "utf-8")
    dom = _chromium(chromium, tmp_path / "profile-dom", "--virtual-time-budget=10000",
                    "--dump-dom", probed.as_uri())  # fmt: skip
    assert 'data-probed="yes"' in dom
    widths = [int(w) for w in re.findall(r'data-natural-width="(\d+)"', dom)]
    assert len(widths) == 18 and all(w == 64 for w in widths)  # images 64 px, atlas 4n = 64
    metrics = re.search(r'<table id="metrics">.*?</table>', dom, re.S).group(0)
    branches = re.findall(r'<td class="name">([a-z_]+)</td>', metrics)
    assert branches == [
        "predictive",
        "warped",
        "blended",
        "texture",
        "texture_mean_fill",
        "texture_nearest_fill",
        "texture_mirror_fill",
        "texture_pushpull_fill",
        "texture_strip_fill",
    ]
    assert '<table id="grid">' in dom
    assert len(re.findall(r'<rect class="bar"', dom)) > 24  # per-part bars of 3 branches
    assert len(re.findall(r'<svg class="curve"', dom)) == 1  # l1 curve of the run

    shot = tmp_path / "report.png"
    _chromium(chromium, tmp_path / "profile-shot", "--window-size=1280,1600",
              f"--screenshot={shot}", report.as_uri())  # fmt: skip
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape == (1600, 1280, 3)
    assert pixels.std() > 20  # text, tables and images drawn, not a blank page
    if os.environ.get("DPT_TEST_ARTIFACTS"):
        target = Path(os.environ["DPT_TEST_ARTIFACTS"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / "eval_report.png")
