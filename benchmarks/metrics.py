"""Benchmark: batched image metrics against per-image skimage, learned-metric throughput, fills.

Inputs: B pairs of H×W RGB images (smooth random structure plus noise); LPIPS-alex and the FID
Inception run with random weights in the official layouts (timing only: no real weights are
available offline); texture fills on an n=200 atlas with 40% of texels seen. SSIM is checked
against skimage (gaussian_weights, σ 1.5, population covariance) before timing, when
scikit-image is installed.

    .venv/bin/python benchmarks/metrics.py            # batch 32, 256×256
    .venv/bin/python benchmarks/metrics.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import importlib.util
import platform

import numpy as np
import torch
from _timing import format_table, median_seconds

from dpt_core import metrics


def image_pairs(batch: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two (B, 3, H, W) float batches in [0, 1]: smooth targets and noisy predictions."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, size // 8, size // 8, generator=gen)
    target = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")
    pred = (target + 0.08 * torch.randn(target.shape, generator=gen)).clamp(0, 1)
    return pred, target


def skimage_ssim(pred: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """Reference: skimage's SSIM, one image at a time."""
    from skimage.metrics import structural_similarity

    p = pred.permute(0, 2, 3, 1).double().numpy()
    t = target.permute(0, 2, 3, 1).double().numpy()
    return np.array([
        structural_similarity(a, b, gaussian_weights=True, sigma=1.5, data_range=1.0,
                              use_sample_covariance=False, channel_axis=2)
        for a, b in zip(p, t, strict=True)
    ])  # fmt: skip


def random_lpips() -> metrics.LPIPS:
    model = metrics.LPIPS("alex")
    gen = torch.Generator().manual_seed(0)
    model.load_linear(
        {
            f"lin{k}.model.1.weight": torch.rand(p.shape, generator=gen)
            for k, p in enumerate(model.lins)
        }
    )
    return model


def bench_images(batch: int, size: int, repeats: int) -> list[list[object]]:
    pred, target = image_pairs(batch, size)
    lpips, inception = random_lpips(), metrics.FidInception()
    jobs = {
        "ssim (ours, batched)": lambda: metrics.ssim(pred, target),
        "psnr + l1": lambda: (metrics.psnr(pred, target), metrics.l1(pred, target)),
        "lpips-alex": lambda: lpips(pred, target),
        "inception pool3+logits": lambda: inception(pred),
    }
    if importlib.util.find_spec("skimage") is not None:
        ours = metrics.ssim(pred, target).double().numpy()
        reference = skimage_ssim(pred, target)
        assert np.allclose(ours, reference, atol=1e-5), np.abs(ours - reference).max()
        jobs["ssim (skimage, per image)"] = lambda: skimage_ssim(pred, target)
    else:
        print("scikit-image not installed: no reference SSIM check or timing")
    if importlib.util.find_spec("pytorch_msssim") is not None:
        import pytorch_msssim

        jobs["ssim (pytorch_msssim, batched)"] = lambda: pytorch_msssim.ssim(
            pred, target, data_range=1.0, size_average=False
        )
    if size >= metrics.MS_SSIM_MIN_SIDE:
        jobs["ms_ssim"] = lambda: metrics.ms_ssim(pred, target)
    rows = []
    with torch.inference_mode():
        for name, job in jobs.items():
            seconds = median_seconds(job, repeats=repeats)
            rows.append([name, f"{batch}×{size}²", seconds * 1e3, batch / seconds])
    return rows


def bench_fills(n: int, repeats: int) -> list[list[object]]:
    rng = np.random.default_rng(0)
    shape = (6 * n, 4 * n)
    gt = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    seen = rng.random(shape) < 0.4
    partial = np.where(seen[..., None], gt, 0).astype(np.uint8)
    others = [gt, gt]
    other_seen = [rng.random(shape) < 0.4, rng.random(shape) < 0.4]
    jobs = {
        "mean_part_colour_fill": lambda: metrics.mean_part_colour_fill(partial, seen, n),
        "nearest_view_fill (2 views)": lambda: metrics.nearest_view_fill(
            partial, seen, others, other_seen
        ),
        "texture_completion_error": lambda: metrics.texture_completion_error(gt, gt, seen),
    }
    return [
        [name, f"atlas n={n}", median_seconds(job, repeats=repeats) * 1e3, "-"]
        for name, job in jobs.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="batch 4, 64×64, n=50, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        batch, size, n, repeats = 4, 64, 50, 1
    else:
        batch, size, n, repeats = args.batch, args.size, 200, args.repeats
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor()}")
    rows = bench_images(batch, size, repeats) + bench_fills(n, repeats)
    print(format_table(["metric", "input", "ms", "images/s"], rows))


if __name__ == "__main__":
    main()
