"""The eval report: one self-contained HTML file (no script, no network, no external file).

Images are inlined as base64 PNG data URIs and charts drawn as inline SVG: the metric table
per branch, an image grid (source | target | predictive | warped | blended | completed
texture), L1 per body part per branch, the run's training curves (``runs/RUN/metrics.parquet``)
and whether it trained with perceptual and style losses (``runs/RUN/losses.json``).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Sequence

import pyarrow.parquet as pq
import yaml

from dpt_core import storage
from dpt_core.iuv import N_PARTS, PART_NAMES

GRID_MEMBERS = {"predictive": "pred.png", "warped": "warp.png", "blended": "png",
                "texture": "tex.png"}  # fmt: skip
GRID_COLUMNS = ("source", "target", *GRID_MEMBERS)
TABLE_COLUMNS = {
    "ssim": "SSIM", "ms_ssim": "MS-SSIM", "psnr": "PSNR (dB)", "l1": "L1", "lpips": "LPIPS",
    "ssim_mask": "mask-SSIM", "l1_mask": "mask-L1", "l1_body": "L1 body", "ssim_body":
    "SSIM body", "l1_outside": "L1 hair/clothes", "ssim_outside": "SSIM hair/clothes",
    "texture_error": "texture error",
}  # fmt: skip
COLOURS = {"predictive": "#4c72b0", "warped": "#dd8452", "blended": "#55a868"}
_CURVE_SKIP = {"step", "stage", "stage_step", "s_per_step", "data_s_per_step", "samples_per_s"}
_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:8px 0 16px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right;font-size:13px}
th{background:#f3f3f3} td.name,th.name{text-align:left}
#grid td{padding:2px;text-align:center} #grid img{height:128px;image-rendering:pixelated}
.meta,.notes{color:#555;font-size:13px} svg{background:#fff;border:1px solid #ddd;margin:4px}
svg text{font-size:11px;fill:#333}
"""


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.4f}" if isinstance(value, float) else html.escape(str(value))


def metrics_table(summary: Sequence[dict], notes: dict[str, str]) -> str:
    """``<table id="metrics">``: one row per branch; empty cells carry the reason as a tooltip."""
    head = "".join(f"<th>{html.escape(t)}</th>" for t in TABLE_COLUMNS.values())
    rows = []
    for row in summary:
        cells = []
        for column in TABLE_COLUMNS:
            note = html.escape(notes.get(column, "no value for this branch"), quote=True)
            title = f' title="{note}"' if row.get(column) is None else ""
            cells.append(f"<td{title}>{_fmt(row.get(column))}</td>")
        name = html.escape(str(row["branch"]))
        rows.append(
            f'<tr><td class="name">{name}</td><td>{row["images"]}</td>{"".join(cells)}</tr>'
        )
    return (f'<table id="metrics"><thead><tr><th class="name">branch</th><th>images</th>{head}'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table>')  # fmt: skip


def grid_table(grid: Sequence[dict]) -> str:
    """``<table id="grid">``: one row per sample, one inlined PNG per column present."""
    if not grid:
        return '<p class="notes">No rendered sample to show.</p>'
    iuv_target = any(r.get("target_is_iuv") for r in grid)
    labels = {"target": "target pose (IUV)" if iuv_target else "target (ground truth)"}
    columns = [c for c in GRID_COLUMNS if any(r.get(c) for r in grid)]
    head = "".join(f"<th>{labels.get(c, c)}</th>" for c in columns)
    body = []
    for row in grid:
        key = html.escape(row["key"])
        cells = "".join(
            f'<td><img src="{data_uri(row[c])}" alt="{c} {key}"></td>'
            if row.get(c)
            else "<td></td>"
            for c in columns
        )
        body.append(f'<tr><td class="name">{key}</td>{cells}</tr>')
    return (f'<table id="grid"><thead><tr><th class="name">sample</th>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')  # fmt: skip


def _axis(x0: float, y0: float, width: float, height: float, top: float, unit: str) -> list[str]:
    out = [f'<line x1="{x0}" y1="{y0}" x2="{x0 + width}" y2="{y0}" stroke="#888"/>']
    for frac in (0.0, 0.5, 1.0):
        y = y0 - frac * height
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + width}" y2="{y:.1f}" '
                   f'stroke="#eee"/><text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end">'
                   f"{top * frac:.3g}{unit}</text>")  # fmt: skip
    return out


def part_chart_svg(summary: Sequence[dict]) -> str:
    """Grouped bar chart (inline SVG, id ``parts-chart``) of mean L1 per body part per branch."""
    series = {r["branch"]: [r.get(f"l1_p{p:02d}") for p in range(1, N_PARTS + 1)]
              for r in summary if r["branch"] in COLOURS}  # fmt: skip
    values = [v for vs in series.values() for v in vs if v is not None]
    if not values:
        return '<p class="notes">No per-part error (no ground-truth target).</p>'
    width, height, x0, y0, top = 960, 260, 48, 220, max(values) * 1.1 or 1.0
    group = (width - x0 - 10) / N_PARTS
    bar = group * 0.8 / max(len(series), 1)
    out = [f'<svg id="parts-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" role="img"><title>L1 per body part</title>']  # fmt: skip
    out += _axis(x0, y0, width - x0 - 10, y0 - 20, top, "")
    for s, (branch, vs) in enumerate(series.items()):
        for p, value in enumerate(vs):
            if value is None:
                continue
            h, x = value / top * (y0 - 20), x0 + p * group + group * 0.1 + s * bar
            out.append(f'<rect class="bar" x="{x:.1f}" y="{y0 - h:.1f}" width="{bar:.1f}" '
                       f'height="{h:.1f}" fill="{COLOURS[branch]}"><title>{branch} part {p + 1} '
                       f"({PART_NAMES[p + 1]}): {value:.4f}</title></rect>")  # fmt: skip
        out.append(f'<text x="{x0 + 10 + 110 * s}" y="{height - 6}" fill="{COLOURS[branch]}">'
                   f"■ {branch}</text>")  # fmt: skip
    for p in range(N_PARTS):
        out.append(f'<text x="{x0 + (p + 0.5) * group:.1f}" y="{y0 + 14}" '
                   f'text-anchor="middle">{p + 1}</text>')  # fmt: skip
    return "".join(out) + "</svg>"


def training_curves(run_url: str) -> dict[str, list[tuple[float, float]]]:
    """``{loss: [(step, value), ...]}`` from ``RUN/metrics.parquet`` ({} when there is none)."""
    url = storage.join(run_url, "metrics.parquet")
    if not storage.exists(url):
        return {}
    table = pq.read_table(io.BytesIO(storage.read_bytes(url)))
    if "step" not in table.column_names:
        return {}
    steps = table.column("step").to_pylist()
    curves = {}
    for name in table.column_names:
        if name in _CURVE_SKIP:
            continue
        points = [(float(s), float(v)) for s, v in zip(steps, table.column(name).to_pylist(),
                  strict=True) if isinstance(v, int | float) and math.isfinite(v)]  # fmt: skip
        if points:
            curves[name] = points
    return curves


def losses_line(run_url: str) -> str:
    """``Perceptual/style losses: ...`` from ``RUN/losses.json``; for runs written before it,
    from ``RUN/config.yaml`` (weights configured or not)."""
    record_url = storage.join(run_url, "losses.json")
    if storage.exists(record_url):
        record = json.loads(storage.read_bytes(record_url))
        active = ", ".join(record.get("losses_active", [])) or "none"
        return f"Perceptual/style losses: {record['perceptual_style']}; losses active: {active}"
    config_url = storage.join(run_url, "config.yaml")
    if not storage.exists(config_url):
        return "Perceptual/style losses: unknown (no runs/RUN/losses.json or config.yaml)"
    weights = (yaml.safe_load(storage.read_bytes(config_url)) or {}).get("losses", {})
    url = weights.get("vgg_weights")
    if not url:
        return "Perceptual/style losses: off — no VGG-19 weights configured (losses.vgg_weights)"
    return f"Perceptual/style losses: VGG-19 weights configured ({storage.redact(url)})"


def line_chart_svg(name: str, points: Sequence[tuple[float, float]]) -> str:
    """Small line chart (inline SVG, class ``curve``) of one training curve."""
    width, height, x0, y0 = 300, 170, 44, 140
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    lo, hi = min(xs), max(xs)
    top = max(max(ys), 0.0) * 1.1 or 1.0
    span = (hi - lo) or 1.0
    coords = " ".join(f"{x0 + (x - lo) / span * (width - x0 - 10):.1f},"
                      f"{y0 - max(y, 0.0) / top * (y0 - 20):.1f}" for x, y in points)  # fmt: skip
    label = html.escape(name)
    out = [f'<svg class="curve" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" role="img"><title>{label}</title>',
           f'<text x="{x0}" y="14">{label}</text>']  # fmt: skip
    out += _axis(x0, y0, width - x0 - 10, y0 - 20, top, "")
    out.append(f'<polyline points="{coords}" fill="none" stroke="#4c72b0" stroke-width="1.5"/>')
    out.append(f'<text x="{x0}" y="{y0 + 14}">step {lo:g}</text><text x="{width - 10}" '
               f'y="{y0 + 14}" text-anchor="end">{hi:g}</text></svg>')  # fmt: skip
    return "".join(out)


def build_report(
    info: dict,
    summary: Sequence[dict],
    notes: dict[str, str],
    grid: Sequence[dict],
    curves: dict[str, list[tuple[float, float]]],
    losses: str | None = None,
) -> str:
    """The whole report as one HTML string (see the module docstring); ``losses``: the
    ``losses_line`` of the run, shown under the title."""
    title = html.escape(f"DPT eval — {info['run']} / {info['name']}")
    meta = html.escape(
        f"checkpoint {info['checkpoint_url']} (step {info['step']}), scale "
        f"{info['scale']['name']} ({info['image_size']} px, atlas n={info['atlas_n']}); "
        f"sources from {info['dataset']}, targets from {info['target_dataset']}"
    )
    note_items = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in
                         sorted(notes.items()))  # fmt: skip
    charts = "".join(line_chart_svg(k, v) for k, v in curves.items())
    losses_p = f'<p class="meta" id="losses">{html.escape(losses)}</p>' if losses else ""
    sheet_link = (
        '<p class="meta">The same samples as one image: <a id="sheet" href="contact_sheet.png">'
        "contact_sheet.png</a> (beside this report).</p>"
        if grid
        else ""
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<style>{_STYLE}</style></head><body><h1>{title}</h1><p class="meta">{meta}</p>'
        f"{losses_p}"
        f"<h2>Metrics per branch</h2>{metrics_table(summary, notes)}"
        f'<ul class="notes">{note_items}</ul>'
        f"<h2>Samples</h2>{sheet_link}{grid_table(grid)}"
        f"<h2>L1 per body part</h2>{part_chart_svg(summary)}"
        f"<h2>Training curves</h2>"
        f"{charts or '<p class=notes>No training metrics (runs/RUN/metrics.parquet).</p>'}"
        "</body></html>"
    )
