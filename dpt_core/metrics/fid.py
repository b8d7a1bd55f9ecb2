"""Set-level metrics: Fréchet Inception Distance and Inception Score, streamed over batches."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch

from dpt_core.metrics._common import NotComputed
from dpt_core.metrics.image import ImageLike
from dpt_core.metrics.inception import FEATURE_DIM, FidInception

log = logging.getLogger(__name__)

IS_SPLITS = 10


class FeatureStats:
    """Running mean and covariance (float64) of feature rows, plus IS probabilities if asked."""

    def __init__(self, dim: int = FEATURE_DIM, keep_probs: bool = False) -> None:
        self.dim = dim
        self.n = 0
        self._sum = torch.zeros(dim, dtype=torch.float64)
        self._outer = torch.zeros(dim, dim, dtype=torch.float64)
        self._probs: list[torch.Tensor] | None = [] if keep_probs else None

    def add(self, features_bd: torch.Tensor, logits_bk: torch.Tensor | None = None) -> None:
        """Add a batch of ``(B, dim)`` features (and ``(B, K)`` logits when probs are kept)."""
        if features_bd.ndim != 2 or features_bd.shape[1] != self.dim:
            raise ValueError(
                f"features_bd: expected (B, {self.dim}), got {tuple(features_bd.shape)}"
            )
        rows = features_bd.detach().to("cpu", torch.float64)
        self.n += rows.shape[0]
        self._sum += rows.sum(0)
        self._outer += rows.T @ rows
        if self._probs is not None:
            if logits_bk is None or logits_bk.shape[0] != rows.shape[0]:
                raise ValueError("logits_bk: one row of logits per feature row is needed for IS")
            self._probs.append(torch.softmax(logits_bk.detach().to("cpu", torch.float64), 1))

    def mean(self) -> torch.Tensor:
        """``(dim,)`` float64 mean; ValueError before any row was added."""
        if self.n == 0:
            raise ValueError("no features added")
        return self._sum / self.n

    def cov(self) -> torch.Tensor:
        """``(dim, dim)`` float64 unbiased covariance (divides by n - 1, as ``numpy.cov``)."""
        if self.n < 2:
            raise ValueError(f"covariance needs at least 2 feature rows, got {self.n}")
        mean = self.mean()
        return (self._outer - self.n * torch.outer(mean, mean)) / (self.n - 1)

    def probs(self) -> torch.Tensor:
        """``(n, K)`` float64 softmax probabilities of every added row."""
        if self._probs is None:
            raise ValueError("this FeatureStats was made with keep_probs=False")
        return torch.cat(self._probs) if self._probs else torch.zeros(0, 0, dtype=torch.float64)


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(
    mean1: torch.Tensor, cov1: torch.Tensor, mean2: torch.Tensor, cov2: torch.Tensor
) -> float:
    """‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½) between two Gaussians, in float64.

    tr((Σ1 Σ2)^½) is the sum of square roots of the eigenvalues of Σ1^½ Σ2 Σ1^½ (symmetric,
    positive semi-definite), so no general matrix square root is needed.
    """
    m1, m2 = mean1.double(), mean2.double()
    c1, c2 = cov1.double(), cov2.double()
    if m1.shape != m2.shape or c1.shape != c2.shape or c1.shape != (m1.shape[0], m1.shape[0]):
        raise ValueError(
            f"mean/cov shapes disagree: {tuple(m1.shape)}, {tuple(c1.shape)}, "
            f"{tuple(m2.shape)}, {tuple(c2.shape)}"
        )
    root1 = _psd_sqrt(c1)
    middle = root1 @ c2 @ root1
    tr_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    value = (m1 - m2).square().sum() + c1.trace() + c2.trace() - 2.0 * tr_sqrt
    return float(value.clamp_min(0))


def inception_score(probs_nk: torch.Tensor, splits: int = IS_SPLITS) -> tuple[float, float]:
    """(mean, std) over ``splits`` consecutive chunks of exp(E[KL(p(y|x) ‖ p(y))])."""
    n = probs_nk.shape[0]
    if probs_nk.ndim != 2 or n < splits or splits < 1:
        raise ValueError(
            f"probs_nk: need at least {splits} rows of class probabilities, "
            f"got shape {tuple(probs_nk.shape)}"
        )
    p = probs_nk.double().clamp_min(1e-30)
    scores = []
    for k in range(splits):
        part = p[k * n // splits : (k + 1) * n // splits]
        kl = (part * (part.log() - part.mean(0, keepdim=True).log())).sum(1)
        scores.append(kl.mean().exp())
    stacked = torch.stack(scores)
    return float(stacked.mean()), float(stacked.std(unbiased=False))


def collect_stats(
    model: FidInception, batches: Iterable[ImageLike], keep_probs: bool = False
) -> FeatureStats:
    """Run every batch of images (in [0, 1]) through ``model`` and accumulate its features."""
    stats = FeatureStats(keep_probs=keep_probs)
    with torch.inference_mode():
        for images in batches:
            pool_bd, logits_bk = model(images)
            stats.add(pool_bd, logits_bk)
    return stats


def compute_set_metrics(
    fake_batches: Iterable[ImageLike],
    real_batches: Iterable[ImageLike] | None = None,
    *,
    inception: FidInception | NotComputed | None,
    splits: int = IS_SPLITS,
) -> dict[str, float | str]:
    """FID (fake vs real) and IS (of fake): ``{"fid", "is_mean", "is_std", "n_fake", "n_real"}``.

    Every metric that cannot be computed (no weights, no real set, too few images) is the string
    ``"not computed: <reason>"``.
    """
    if not isinstance(inception, FidInception):
        reason = str(inception or NotComputed("no Inception network given"))
        return {"fid": reason, "is_mean": reason, "is_std": reason, "n_fake": 0, "n_real": 0}
    fake = collect_stats(inception, fake_batches, keep_probs=True)
    real = collect_stats(inception, real_batches) if real_batches is not None else None
    out: dict[str, float | str] = {"n_fake": fake.n, "n_real": real.n if real else 0}
    if real is None:
        out["fid"] = str(NotComputed("no real images given"))
    elif min(fake.n, real.n) < 2:
        out["fid"] = str(NotComputed(f"FID needs ≥ 2 images per set, got {fake.n} and {real.n}"))
    else:
        out["fid"] = frechet_distance(fake.mean(), fake.cov(), real.mean(), real.cov())
    if fake.n < splits:
        out["is_mean"] = out["is_std"] = str(
            NotComputed(f"IS needs ≥ {splits} images (one per split), got {fake.n}")
        )
    else:
        out["is_mean"], out["is_std"] = inception_score(fake.probs(), splits)
    log.info("set metrics over %d fake / %s real images: %s", fake.n, out["n_real"], out)
    return out
