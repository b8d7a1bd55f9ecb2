"""The eval stage: a render set scored against ground truth, per image and per branch.

Modules: ``scores`` (columns, options, per-region and per-part metrics), ``cases`` (decoded
samples — ``rendered_cases`` — and the scorer), ``stage`` (the set-level work), ``report`` and
``contact_sheet`` (HTML report, PNG sheet), ``cli`` (``dpt eval``).

For every rendered sample whose target is an image of the same person, each branch present
(``blended`` = KEY.png, ``predictive`` = KEY.pred.png, ``warped`` = KEY.warp.png) is compared
with the target image at the model's size: ``IMAGE_COLUMNS`` (SSIM, MS-SSIM, PSNR, L1, LPIPS,
and their person-mask variants), per-region L1 / mask-SSIM inside the body (I > 0) and outside
it on the person mask (hair, loose clothing), and L1 per body part. The completed texture
(KEY.tex.png) is scored on the texels the source did not see against the person's full atlas
(studio ``atlases/PERSON.png``), beside the mean-part-colour baseline. Metrics a setting cannot
give (MS-SSIM below 161 px, LPIPS without weights) are null with the reason in the summary.

Writes ``RENDERS/eval/metrics.parquet`` (one row per image and branch),
``RENDERS/eval/summary.parquet`` (means per branch) and ``RENDERS/eval/report.html``.
"""

from dpt_core.evaluate.cases import RenderedCase, rendered_cases
from dpt_core.evaluate.scores import (
    ID_COLUMNS,
    IMAGE_BRANCHES,
    METRIC_COLUMNS,
    PART_COLUMNS,
    REGION_COLUMNS,
    TEXTURE_BRANCHES,
    EvalOptions,
    EvalResult,
    decode_png,
    part_l1,
    region_metrics,
    resample_atlas,
    studio_atlases_url,
)
from dpt_core.evaluate.stage import evaluate, evaluate_renders, render_run_tests, summarize

__all__ = [
    "ID_COLUMNS",
    "IMAGE_BRANCHES",
    "METRIC_COLUMNS",
    "PART_COLUMNS",
    "REGION_COLUMNS",
    "TEXTURE_BRANCHES",
    "EvalOptions",
    "EvalResult",
    "RenderedCase",
    "decode_png",
    "evaluate",
    "evaluate_renders",
    "part_l1",
    "region_metrics",
    "render_run_tests",
    "rendered_cases",
    "resample_atlas",
    "studio_atlases_url",
    "summarize",
]
