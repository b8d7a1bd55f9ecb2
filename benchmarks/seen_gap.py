"""How much better the branches are on the people they were trained on (issue #19, stacking).

A blender trained on the predictive branch's own training people sees that branch at its best;
at test time the people are new. This probe takes a finished ``benchmarks/ablation.py`` run
trained with ``stages.blending.held_out_every=K`` and renders two equal sets of *training* pairs:
people the predictive stage trained on ("seen") and the every-K-th people that trained the
blender only ("held out"). Same poses, same scenes; the only difference is whether the
predictive branch has seen the person.

    .venv/bin/python benchmarks/seen_gap.py --work data/bench/ablation --seed 0

Prints L1 / SSIM inside the body and on hair and loose clothing for every branch and both sets.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from _timing import format_table

from dpt_core.data.pairs import read_pairs
from dpt_core.evaluate import EvalOptions, evaluate_renders
from dpt_core.render import BRANCHES, RenderJob, render_requests

COLUMNS = ("l1_body", "ssim_body", "l1_outside", "ssim_outside")


def pick(pairs: list[dict], persons: set[str], n: int) -> list[tuple[str, str]]:
    """``n`` pairs of ``persons``, evenly spaced in (source, target) order."""
    chosen = sorted((p["source_key"], p["target_key"]) for p in pairs if p["person_id"] in persons)
    keep = np.unique(np.linspace(0, len(chosen) - 1, n).round().astype(int))
    return [chosen[i] for i in keep]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="data/bench/ablation", help="an ablation --work folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=int, default=4, help="the run's held_out_every")
    parser.add_argument("--pairs", type=int, default=48, help="pairs per set")
    args = parser.parse_args()
    torch.set_num_threads(2)
    root, run = os.path.join(args.work, "root"), f"ablation-seed{args.seed}"
    pairs = read_pairs(root, "studio", "train").to_pylist()
    persons = sorted({p["person_id"] for p in pairs})  # the training index's order
    held_out = set(persons[:: args.every])
    sets = {"seen": set(persons) - held_out, "held out": held_out}
    rows = []
    for name, people in sets.items():
        job = RenderJob(root, os.path.join(root, "runs", run), f"gap-{name.replace(' ', '-')}",
                        run=run, branches=tuple(BRANCHES))  # fmt: skip
        render_requests(job, pick(pairs, people, args.pairs))
        summary = {r["branch"]: r for r in evaluate_renders(job.url, EvalOptions()).summary}
        for branch in ("predictive", "warped", "blended"):
            rows.append([name, branch, *(f"{summary[branch][c]:.4f}" for c in COLUMNS)])
    print(f"{run}: {len(sets['seen'])} seen persons, {len(held_out)} held out, "
          f"{args.pairs} training pairs each")  # fmt: skip
    print(format_table(["people", "branch", *COLUMNS], rows))


if __name__ == "__main__":
    main()
