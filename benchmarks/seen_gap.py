"""How much better the branches are on the people they were trained on (issue #19, stacking).

A blender trained on the predictive branch's own training people sees that branch at its best;
at test time the people are new. This probe renders two fixed sets of *training* pairs of a
finished ``benchmarks/ablation.py`` run: the every-K-th training person ("every K-th", the people
``stages.blending.held_out_every=K`` gives the blender alone) and the others. People differ in how
hard they are, so the fair comparison is the same set across two runs on the same data, one
trained with ``held_out_every=K`` (the predictive branch never saw those people) and one with 0
(it trained on them):

    .venv/bin/python benchmarks/seen_gap.py data/bench/v3-base data/bench/v3-ho4p --seed 0

Prints L1 / SSIM inside the body and on hair and loose clothing for every branch and set.
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
from dpt_core.train.index import build_index

COLUMNS = ("l1_body", "ssim_body", "l1_outside", "ssim_outside")


def pick(pairs: list[dict], persons: set[str], n: int) -> list[tuple[str, str]]:
    """``n`` pairs of ``persons``, evenly spaced in (source, target) order."""
    chosen = sorted((p["source_key"], p["target_key"]) for p in pairs if p["person_id"] in persons)
    keep = np.unique(np.linspace(0, len(chosen) - 1, n).round().astype(int))
    return [chosen[i] for i in keep]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("works", nargs="+", help="ablation --work folders (same data)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=int, default=4, help="K of held_out_every")
    parser.add_argument("--pairs", type=int, default=48, help="pairs per set")
    args = parser.parse_args()
    torch.set_num_threads(2)
    run, rows = f"ablation-seed{args.seed}", []
    for work in args.works:
        root = os.path.join(work, "root")
        pairs = read_pairs(root, "studio", "train").to_pylist()
        index = build_index(root, "studio")
        _, blender = index.blender_split(args.every)  # the trainer's own rule
        persons = {index.persons[p] for p in np.unique(index.sample_person)}
        every = {index.persons[p] for p in np.unique(blender.sample_person)}
        for name, people in (("every K-th", every), ("the others", persons - every)):
            job = RenderJob(root, os.path.join(root, "runs", run), f"gap-{len(people)}",
                            run=run, branches=tuple(BRANCHES))  # fmt: skip
            render_requests(job, pick(pairs, people, args.pairs))
            summary = {r["branch"]: r for r in evaluate_renders(job.url, EvalOptions()).summary}
            for branch in ("predictive", "warped", "blended"):
                cells = (f"{summary[branch][c]:.4f}" for c in COLUMNS)
                rows.append([work, f"{name} ({len(people)})", branch, *cells])
    print(f"{run}, {args.pairs} training pairs per set, K = {args.every}")
    print(format_table(["run", "people", "branch", *COLUMNS], rows))


if __name__ == "__main__":
    main()
