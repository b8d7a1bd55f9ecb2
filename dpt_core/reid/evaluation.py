"""Re-id ranking metrics under the Market-1501 protocol: CMC rank-k and mean average precision.

For each query, the gallery is sorted by distance (smallest first); gallery images of the
query's own person taken by the query's own camera are **junk** and removed (they are easy
matches a re-id system must not be credited for), the rest of the person's gallery images are
the true matches. A query with no true match left is not counted. CMC rank-k: the fraction of
counted queries with a true match among the first k; AP: the mean of the precision at the rank
of each true match; mAP: AP averaged over counted queries. This is what torchreid's
``evaluate_rank`` (Market-1501 setting) and the data set's own MATLAB code compute.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RankMetrics:
    """``cmc[k-1]``: rank-k accuracy in [0, 1]; ``mean_ap`` in [0, 1]; ``queries``: counted."""

    cmc: np.ndarray
    mean_ap: float
    queries: int

    @property
    def rank1(self) -> float:
        return float(self.cmc[0])


def _check(distmat_qg: np.ndarray, q_pids, g_pids, q_cams, g_cams) -> None:
    if distmat_qg.ndim != 2:
        raise ValueError(f"distmat_qg: expected (queries, gallery), got {distmat_qg.shape}")
    q, g = distmat_qg.shape
    for name, array, n in (("q_pids", q_pids, q), ("g_pids", g_pids, g),
                           ("q_cams", q_cams, q), ("g_cams", g_cams, g)):  # fmt: skip
        if np.shape(array) != (n,):
            raise ValueError(f"{name}: expected shape ({n},), got {np.shape(array)}")


def query_matches(order: np.ndarray, pid, cam, g_pids, g_cams) -> np.ndarray:
    """Booleans, in ranked order, of the gallery images that are true matches, junk removed."""
    keep = ~((g_pids[order] == pid) & (g_cams[order] == cam))
    return g_pids[order][keep] == pid


def average_precision(matches: np.ndarray) -> float:
    """AP of one ranked list of booleans with at least one True."""
    hits = np.flatnonzero(matches)
    return float(np.mean(np.arange(1, hits.size + 1) / (hits + 1)))


def rank_metrics(
    distmat_qg: np.ndarray, q_pids, g_pids, q_cams, g_cams, max_rank: int = 20
) -> RankMetrics:
    """CMC up to ``max_rank`` (cut to the gallery size) and mAP; ValueError when no query has
    a true match in another camera."""
    distmat_qg = np.asarray(distmat_qg, dtype=np.float64)
    q_pids, g_pids, q_cams, g_cams = (np.asarray(a) for a in (q_pids, g_pids, q_cams, g_cams))
    _check(distmat_qg, q_pids, g_pids, q_cams, g_cams)
    max_rank = min(max_rank, distmat_qg.shape[1])
    cmcs, aps = [], []
    for i, row in enumerate(distmat_qg):
        order = np.argsort(row, kind="stable")
        matches = query_matches(order, q_pids[i], q_cams[i], g_pids, g_cams)
        if not matches.any():
            continue
        first = int(np.argmax(matches))
        cmcs.append(np.arange(max_rank) >= first)
        aps.append(average_precision(matches))
    if not cmcs:
        raise ValueError("no query has a true match in the gallery from another camera")
    cmc = np.mean(np.asarray(cmcs, dtype=np.float64), axis=0)
    return RankMetrics(cmc, float(np.mean(aps)), len(aps))
