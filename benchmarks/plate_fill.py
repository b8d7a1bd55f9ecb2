"""How well each fill of the source's person hole guesses the target's background (issue #19).

The blender's plate is the source image with its person hole filled from around it
(``scale.blender.plate_fill``). Where the source person stood and the target person does not,
the plate is the blend's guess of the backdrop. This scores that guess, L1 on the [0, 1] scale,
over the pixels inside the source's hole, outside the target's hole and off the target person,
for push-pull and for ``span_fill`` at the given span powers and agreement scales. It reads only
the sources, target IUVs and targets of a render set; the model plays no part.

    .venv/bin/python benchmarks/plate_fill.py data/bench/v4-base/root/renders/ablation-seed0/heldout
"""

from __future__ import annotations

import argparse
import functools
import itertools
import math

import torch
from _timing import format_table

from dpt_core import render, texture_fill
from dpt_core.evaluate import rendered_cases
from dpt_core.models.blocks import person_hole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("renders", nargs="+", help="render set folders (with eval inputs)")
    parser.add_argument("--powers", type=float, nargs="+", default=[2.0, 4.0, 8.0])
    parser.add_argument("--agreements", type=float, nargs="+", default=[0.05, 0.1, 0.2, math.inf],
                        help="SPAN_AGREEMENT values; inf: ends' agreement ignored")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)
    fills = {"push-pull": texture_fill.push_pull}
    for power, agreement in itertools.product(args.powers, args.agreements):
        fills[f"span power {power:g}, agreement {agreement:g}"] = functools.partial(
            texture_fill.span_fill, power=power, agreement=agreement
        )
    errors, pixels = dict.fromkeys(fills, 0.0), 0.0
    for url in args.renders:
        for case in rendered_cases(url, render.read_render_info(url)):
            source, source_iuv = case.source.image[None], case.source.iuv[None]
            hole = person_hole(source_iuv)
            region = hole * (1 - person_hole(case.target_iuv[None])) * (1 - case.target.mask[None])
            for name, fill in fills.items():
                error = (fill(source, 1 - hole) - case.target.image[None]).abs().mean(1, True)
                errors[name] += float((error * region).sum()) / 2  # [-1, 1] -> [0, 1]
            pixels += float(region.sum())
    shipped = (texture_fill.SPAN_POWER, texture_fill.SPAN_AGREEMENT)
    rows = [[name, f"{errors[name] / pixels:.4f}",
             "shipped" if name == f"span power {shipped[0]:g}, agreement {shipped[1]:g}" else ""]
            for name in fills]  # fmt: skip
    print(f"{int(pixels)} background pixels the source person hid")
    print(format_table(["fill", "L1", ""], rows))


if __name__ == "__main__":
    main()
