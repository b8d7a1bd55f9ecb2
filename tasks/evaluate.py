"""Task of the evaluate stage: score a render set, write metrics and the HTML report."""

from __future__ import annotations

from dpt_core.evaluate import EvalOptions, EvalResult, evaluate_renders
from tasks.policy import storage_task

__all__ = ["evaluate_task"]


@storage_task(name="evaluate-renders")
def evaluate_task(render_url: str, options: EvalOptions) -> EvalResult:
    """Metrics per image and branch, means per branch and ``eval/report.html`` of a render set."""
    return evaluate_renders(render_url, options)
