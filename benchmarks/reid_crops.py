"""Do added training crops differ systematically from the real ones? (issue #18)

    .venv/bin/python benchmarks/reid_crops.py --work data/bench/reid_value --out crops.json
    (--oracle-work W2: the oracle arm from another --work folder)

Reads the trees ``benchmarks/reid_value.py --work W`` left in W (``arms/original``,
``arms/augmented`` and, when built, ``arms/oracle``) and compares their training crops:

* **geometry**: where the body is in the 128 × 64 crop (top, bottom, height, width as fractions
  of the crop; the body = DensePose surface, hair and loose clothes excluded). Originals: the
  cropped ground-truth IUVs (``W/iuvs``). Generated: the target pose's body box (pose bank
  manifest) in the crop box the plan chose (``plan.parquet``): where the generator is asked to
  draw the body.
* **image statistics** per crop: sharpness (variance of the Laplacian of the grey image),
  mean and spread of brightness, mean saturation, and the same four of the central half
  (the person).
* **separability**: a logistic regression on those statistics (standardised), trained on half
  of the persons and tested on the other half (then swapped): its balanced accuracy at telling
  an added crop from an original one. 50 % = no systematic difference in these statistics.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import torch

from dpt_core import storage
from dpt_core.iuv import read_iuv
from dpt_core.reid.market import parse_name

FEATURES = ("sharpness", "brightness", "contrast", "saturation", "centre_sharpness",
            "centre_brightness", "centre_contrast", "centre_saturation")  # fmt: skip


def crop_stats(path: Path) -> list[float]:
    """The FEATURES of one crop (see the module docstring)."""
    bgr = cv2.imread(str(path))
    out = []
    for part in (bgr, bgr[:, bgr.shape[1] // 4 : -bgr.shape[1] // 4]):
        grey = cv2.cvtColor(part, cv2.COLOR_BGR2GRAY).astype(np.float32)
        hsv = cv2.cvtColor(part, cv2.COLOR_BGR2HSV)
        out += [float(np.log1p(cv2.Laplacian(grey, cv2.CV_32F).var())), float(grey.mean()),
                float(grey.std()), float(hsv[..., 1].mean())]  # fmt: skip
    return out


def train_crops(tree: Path, sequence: int) -> list[Path]:
    names = sorted((tree / "market1501/bounding_box_train").glob("*.jpg"))
    return [p for p in names if parse_name(p.name).sequence == sequence]


def separability(real: np.ndarray, added: np.ndarray, real_pid, added_pid) -> float:
    """Person-disjoint two-fold balanced accuracy (%: mean of the two classes' recalls, so 50 =
    chance whatever the class sizes) of a logistic regression, added vs real."""
    x = np.concatenate([real, added])
    y = np.concatenate([np.zeros(len(real)), np.ones(len(added))])
    pid = np.concatenate([real_pid, added_pid])
    predicted = np.zeros(len(y))
    for fold in (0, 1):
        test = pid % 2 == fold
        mean, std = x[~test].mean(0), x[~test].std(0) + 1e-6
        xt = torch.tensor((x - mean) / std, dtype=torch.float32)
        yt = torch.tensor(y, dtype=torch.float32)
        w = torch.zeros(x.shape[1], requires_grad=True)
        b = torch.zeros(1, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], max_iter=200)

        def closure(w=w, b=b, opt=opt, xt=xt, yt=yt, test=test):
            opt.zero_grad()
            logits = xt[~test] @ w + b
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, yt[~test])
            loss = loss + 1e-3 * (w**2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            predicted[test] = (xt[test] @ w + b > 0).numpy()
    recalls = [(predicted[y == c] == c).mean() for c in (0, 1)]
    return round(100 * float(np.mean(recalls)), 1)


def body_fractions(box, crop) -> list[float]:
    """(top, bottom, height, width) of ``box`` as fractions of ``crop`` (both x0, y0, x1, y1)."""
    cw, ch = crop[2] - crop[0], crop[3] - crop[1]
    top, bottom = (box[1] - crop[1]) / ch, (box[3] - crop[1]) / ch
    return [top, bottom, (box[3] - box[1]) / ch, (box[2] - box[0]) / cw]


def original_geometry(iuv_folder: Path) -> list[list[float]]:
    rows = []
    for path in sorted(iuv_folder.glob("*.iuv.png")):
        iuv = read_iuv(str(path))
        ys, xs = np.nonzero(iuv[..., 0])
        h, w = iuv.shape[:2]
        rows.append(body_fractions((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), (0, 0, w, h)))
    return rows


def generated_geometry(dst: Path) -> list[list[float]]:
    work = dst / "_work"
    plan = pq.read_table(next(work.glob("reid/*/plan.parquet"))).to_pylist()
    boxes = {}
    for manifest in work.glob("densepose/*/*/*.parquet"):
        for row in pq.read_table(manifest).to_pylist():
            boxes[row["key"]] = (row["bbox_x0"], row["bbox_y0"], row["bbox_x1"], row["bbox_y1"])
    rows = []
    for row in plan:
        crop = (row["crop_x0"], row["crop_y0"], row["crop_x1"], row["crop_y1"])
        rows.append(body_fractions(boxes[row["target_key"]], crop))
    return rows


def summary(rows: list[list[float]], names: tuple[str, ...]) -> dict:
    cols = list(zip(*rows, strict=True))
    return {n: [round(statistics.mean(c), 3), round(statistics.stdev(c), 3)]
            for n, c in zip(names, cols, strict=True)}  # fmt: skip


def montage(folders: list[tuple[Path, int]], persons: list[str], out: str, columns: int = 6):
    """A JPEG sheet: per person, one row of ``columns`` crops per (tree, sequence) folder."""
    from PIL import Image

    rows = [[p for p in train_crops(tree, seq) if p.name.startswith(f"{person}_")][:columns]
            for person in persons for tree, seq in folders]  # fmt: skip
    sheet = Image.new("RGB", (columns * 66, len(rows) * 130), "white")
    for r, row in enumerate(rows):
        for c, path in enumerate(row):
            sheet.paste(Image.open(path), (c * 66, r * 130))
    buffer = io.BytesIO()
    sheet.save(buffer, "JPEG", quality=90)
    storage.write_bytes(out, buffer.getvalue())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", required=True, help="reid_value.py's --work folder")
    p.add_argument("--oracle-work", help="the --work folder of an --oracle run (default: --work)")
    p.add_argument("--out", help="write the results as JSON here")
    p.add_argument("--montage", help="write a JPEG sheet of persons 3, 17, 30 here: rows of "
                   "originals, generated, oracle crops")  # fmt: skip
    args = p.parse_args(argv)
    work = Path(args.work)
    arms = {"augmented": (work / "arms/augmented", 9),
            "oracle": (Path(args.oracle_work or work) / "arms/oracle", 8)}  # fmt: skip
    real_paths = train_crops(work / "arms/original", 1)
    real = np.array([crop_stats(q) for q in real_paths])
    real_pid = np.array([int(parse_name(q.name).person) for q in real_paths])
    result = {"original": {"images": len(real), "stats": summary(real.tolist(), FEATURES),
                           "geometry": summary(original_geometry(work / "iuvs"),
                                               ("top", "bottom", "height", "width"))}}  # fmt: skip
    for arm, (folder, sequence) in arms.items():
        if not folder.is_dir():
            continue
        paths = train_crops(folder, sequence)
        added = np.array([crop_stats(q) for q in paths])
        pid = np.array([int(parse_name(q.name).person) for q in paths])
        result[arm] = {"images": len(added), "stats": summary(added.tolist(), FEATURES),
                       "separability_pct": separability(real, added, real_pid, pid)}  # fmt: skip
        if arm == "augmented":
            geometry = generated_geometry(folder / "market1501")
            result[arm]["geometry"] = summary(geometry, ("top", "bottom", "height", "width"))
    if args.montage:
        found = [(folder, seq) for folder, seq in arms.values() if folder.is_dir()]
        montage([(work / "arms/original", 1), *found], ["0003", "0017", "0030"], args.montage)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        storage.write_bytes(args.out, text.encode())


if __name__ == "__main__":
    main()
