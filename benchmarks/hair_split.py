"""Where the blend gains or loses on hair and loose clothing (issue #19).

The hair/cloth band is the target person mask where the target IUV has I = 0. Within the target's
person hole (the body dilated by ``copy_margin``·H) the blend there is exactly
``clamp(predicted + correction)``: alpha is 0 off the body and the source plate is never taken.
Beyond the hole the plate may be. This splits each branch's L1 on the band into those two parts,
so a loss can be put on the correction or on the plate.

    .venv/bin/python benchmarks/hair_split.py \
        data/bench/ablation/root/renders/ablation-seed*/heldout

L1 is on the [0, 1] scale of the evaluation's tables; "cast" is the mean signed error (rendered
minus truth) per R, G, B channel on the same pixels: a colour the branch adds to every person.
"""

from __future__ import annotations

import argparse

import torch
from _timing import format_table

from dpt_core import render
from dpt_core.evaluate import decode_png, rendered_cases
from dpt_core.models.blocks import body_mask, person_hole

IMAGES = {"predictive": "pred.png", "warped": "warp.png", "blended": "png"}


def _image(data: bytes) -> torch.Tensor:
    """(3, H, W) float in [0, 1] of a rendered PNG member (the evaluation's decoder)."""
    return torch.from_numpy(decode_png(data)).permute(2, 0, 1).float() / 255.0


def split_errors(
    render_url: str, margin: float
) -> dict[tuple[str, str], tuple[float, list[float], int]]:
    """{(region, branch): (mean L1 on [0, 1], mean signed error per channel, pixels)} over every
    scored sample."""
    info = render.read_render_info(render_url)
    sums: dict[tuple[str, str], list[float]] = {}
    for case in rendered_cases(render_url, info):
        if case.target is None:
            continue
        iuv = case.target_iuv[None].float()
        body, hole = body_mask(iuv)[0, 0] > 0.5, person_hole(iuv, margin)[0, 0] > 0.5
        band = (case.target.mask[0] > 0.5) & ~body
        truth = (case.target.image + 1) / 2
        for region, where in (("within the hole", band & hole), ("beyond it", band & ~hole)):
            for branch, member in IMAGES.items():
                signed = (_image(case.rendered[member]) - truth)[:, where]
                total = sums.setdefault((region, branch), [0.0, torch.zeros(3), 0])
                total[0] += float(signed.abs().mean(0).sum())
                total[1] += signed.sum(1)
                total[2] += int(where.sum())
    return {k: (s / max(n, 1), (c / max(n, 1)).tolist(), int(n)) for k, (s, c, n) in sums.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("renders", nargs="+", help="render folders of the ablation (one per seed)")
    parser.add_argument("--margin", type=float, default=1 / 32, help="the blender's copy_margin")
    args = parser.parse_args()
    for url in args.renders:
        errors = split_errors(url, args.margin)
        rows = [[region, branch, f"{l1:.4f}", " ".join(f"{c:+.3f}" for c in cast), n]
                for (region, branch), (l1, cast, n) in errors.items()]  # fmt: skip
        print(url)
        print(format_table(["hair/cloth pixels", "branch", "L1", "cast R G B", "pixels"], rows))


if __name__ == "__main__":
    main()
