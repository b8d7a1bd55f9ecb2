"""Train and evaluate a re-id model on a Market-1501 tree with torchreid (the re-id benchmark).

torchreid (PyPI ``torchreid`` 0.2.5, KaiyangZhou's deep-person-reid 1.4.0 packaged) gives
the data set parser (``Market1501``: ``([-\\d]+)_c(\\d)`` names, train ids relabelled), the
model (``osnet_x0_25``, from scratch), the losses (label-smoothed softmax; the hard-mining
triplet only when ``TrainRecipe.triplet_weight`` > 0), the sampler (``RandomIdentitySampler``:
P identities × 4 images per batch), the distance (squared Euclidean) and the evaluation
(``evaluate_rank``, Market-1501 protocol). The loop is ours, so it can run with progress bars
on CPU: images are held in memory as uint8, augmented with a random flip and a random
translation (pad 8, crop), normalised with ImageNet statistics. ``dpt_core.reid.evaluation``
recomputes rank-1 / mAP from the same distances; both must agree.
"""

from __future__ import annotations

import importlib
import random
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from dpt_core.reid.evaluation import rank_metrics
from dpt_core.reid.market import parse_name
from dpt_core.reid.studio_market import ORIGINAL_SEQUENCE

TORCHREID_PIN = "torchreid==0.2.5"
EXTRA_PINS = ("gdown", "beautifulsoup4")  # imported by torchreid's package __init__
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def import_torchreid(install: bool = True):
    """``torchreid``; installed into this interpreter's environment first when missing."""
    try:
        return importlib.import_module("torchreid")
    except ImportError:
        if not install:
            raise
    print(f"[reid_value] torchreid missing: pip install {TORCHREID_PIN} {' '.join(EXTRA_PINS)}"
          f" into {sys.prefix}", flush=True)  # fmt: skip
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", TORCHREID_PIN,
                    *EXTRA_PINS], check=True)  # fmt: skip
    importlib.invalidate_caches()
    return importlib.import_module("torchreid")


@dataclass(frozen=True)
class TrainRecipe:
    """The training settings, identical for every arm."""

    epochs: int = 40
    batch_size: int = 32
    instances: int = 4
    lr: float = 1e-3
    weight_decay: float = 5e-4
    margin: float = 0.3
    # 0: softmax only, OSNet's own from-scratch recipe. Batch-hard triplet on osnet's ReLU
    # embedding from scratch collapsed it to a constant (softmax stuck at ln(classes), triplet
    # at the margin, mAP at chance): see benchmarks/RESULTS.md, re-id value.
    triplet_weight: float = 0.0
    threads: int = 1  # on a busy 2-core machine 2 intra-op threads ran ~10x slower
    # Added training images (generated s9, oracle s8): loss weight of each in the softmax
    # (1: like a real image), and how many per person are used (None: all, else the first
    # ``added_per_identity`` by frame, i.e. by the augmentation's index j).
    added_weight: float = 1.0
    added_per_identity: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.added_weight <= 1.0:
            raise ValueError(f"added_weight: expected in (0, 1], got {self.added_weight}")
        if self.added_per_identity is not None and self.added_per_identity < 0:
            raise ValueError(f"added_per_identity: expected >= 0, got {self.added_per_identity}")


@dataclass
class MarketData:
    """A tree loaded by torchreid: images (N, 3, H, W) uint8, labels and cameras per split."""

    train: list
    query: list
    gallery: list
    num_classes: int


def load_tree(root: str) -> MarketData:
    """torchreid's ``Market1501(root)`` (``root/market1501/...``), images decoded once."""
    torchreid = import_torchreid()
    dataset = torchreid.reid.data.datasets.image.Market1501(root=root, verbose=False)
    return MarketData(dataset.train, dataset.query, dataset.gallery, dataset.num_train_pids)


def is_added(item) -> bool:
    """Whether a training item (path, pid, camid, ...) was added to the original tree: a
    generated (s9) or oracle (s8) image, i.e. any sequence but the originals' s1."""
    return parse_name(item[0]).sequence != ORIGINAL_SEQUENCE


def select_added(items: list, per_identity: int | None) -> list:
    """``items`` with at most ``per_identity`` added images per person (the lowest frames,
    i.e. the augmentation's first indices j); originals all kept, order unchanged."""
    if per_identity is None:
        return list(items)
    ranked = sorted((item for item in items if is_added(item)),
                    key=lambda item: (item[1], parse_name(item[0]).frame, item[0]))  # fmt: skip
    kept, count = set(), {}
    for item in ranked:
        count[item[1]] = count.get(item[1], 0) + 1
        if count[item[1]] <= per_identity:
            kept.add(item[0])
    return [item for item in items if not is_added(item) or item[0] in kept]


def sample_weights(items: list, added_weight: float) -> torch.Tensor:
    """(N,) loss weight per training item: 1 for originals, ``added_weight`` for added ones."""
    return torch.tensor([added_weight if is_added(item) else 1.0 for item in items])


def weighted_smoothed_ce(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, epsilon: float = 0.1
) -> torch.Tensor:
    """torchreid's label-smoothed cross entropy, as a weighted mean over the batch
    (sum w·loss / sum w); equal weights give exactly torchreid's ``CrossEntropyLoss``."""
    log_probs = torch.log_softmax(logits, dim=1)
    targets = torch.zeros_like(log_probs).scatter_(1, labels.unsqueeze(1), 1.0)
    targets = (1 - epsilon) * targets + epsilon / logits.shape[1]
    per_sample = (-targets * log_probs).sum(1)
    return (weights * per_sample).sum() / weights.sum()


def images_nchw(items: list) -> torch.Tensor:
    """(N, 3, H, W) uint8 of the items' image paths (item = (path, pid, camid, ...))."""
    arrays = [np.asarray(Image.open(item[0]).convert("RGB")) for item in items]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def augment(batch_nchw: torch.Tensor, gen: torch.Generator, pad: int = 8) -> torch.Tensor:
    """Random horizontal flip and translation of a uint8 batch; float, normalised."""
    x = batch_nchw.float() / 255.0
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    x[flip] = x[flip].flip(-1)
    h, w = x.shape[-2:]
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    out = torch.empty_like(x)
    offsets = torch.randint(0, 2 * pad + 1, (x.shape[0], 2), generator=gen)
    for i, (dy, dx) in enumerate(offsets.tolist()):
        out[i] = padded[i, :, dy : dy + h, dx : dx + w]
    return (out - MEAN) / STD


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy (the sampler) and torch; a torch generator for the augmentation."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def train_model(data: MarketData, recipe: TrainRecipe, seed: int, label: str):
    """osnet_x0_25 from scratch on ``data.train``; (model, stats): iterations, and the last
    epoch's mean softmax loss and training top-1 (a collapsed model stays at ln(classes))."""
    torchreid = import_torchreid()
    torch.set_num_threads(recipe.threads)
    gen = seed_everything(seed)
    model = torchreid.reid.models.build_model("osnet_x0_25", data.num_classes, loss="triplet",
                                              pretrained=False)  # fmt: skip
    losses = torchreid.reid.losses
    softmax = losses.CrossEntropyLoss(data.num_classes, use_gpu=False, label_smooth=True)
    triplet = losses.TripletLoss(margin=recipe.margin)
    images = images_nchw(data.train)
    labels = torch.tensor([item[1] for item in data.train])
    weights = sample_weights(data.train, recipe.added_weight)
    plain = bool((weights == 1.0).all())  # then torchreid's own loss, as every run before
    sampler = torchreid.reid.data.sampler.RandomIdentitySampler(
        data.train, recipe.batch_size, recipe.instances
    )
    total = len(sampler) // recipe.batch_size * recipe.epochs  # the sampler's estimate
    optimizer = torch.optim.Adam(model.parameters(), recipe.lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total)
    model.train()
    done = 0
    with tqdm(total=total, desc=label, unit="it", leave=False) as bar:
        for _ in range(recipe.epochs):
            order = torch.tensor(list(iter(sampler)), dtype=torch.long)
            epoch = []  # (softmax loss, top-1) per batch
            for b in range(len(order) // recipe.batch_size):
                idx = order[b * recipe.batch_size : (b + 1) * recipe.batch_size]
                logits, features = model(augment(images[idx], gen))
                if plain:
                    ce = softmax(logits, labels[idx])
                else:
                    ce = weighted_smoothed_ce(logits, labels[idx], weights[idx])
                loss = ce
                if recipe.triplet_weight:
                    loss = ce + recipe.triplet_weight * triplet(features, labels[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if done < total:
                    schedule.step()
                done += 1
                epoch.append((ce.item(), (logits.argmax(1) == labels[idx]).float().mean().item()))
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
    ce_mean, top1 = np.mean(epoch, axis=0).tolist()
    return model, {"iterations": done, "last_epoch_softmax": round(ce_mean, 3),
                   "last_epoch_train_top1": round(100 * top1, 1)}  # fmt: skip


@torch.no_grad()
def features(model, items: list, batch_size: int = 128) -> torch.Tensor:
    """(N, D) eval-mode features of the items' images."""
    model.eval()
    images = images_nchw(items)
    parts = [model((images[i : i + batch_size].float() / 255.0 - MEAN) / STD)
             for i in range(0, len(items), batch_size)]  # fmt: skip
    return torch.cat(parts)


def evaluate(model, data: MarketData) -> dict:
    """torchreid's rank-1 / mAP (in %) on query vs gallery, and ours from the same distances."""
    torchreid = import_torchreid()
    metrics = torchreid.reid.metrics
    distmat = metrics.compute_distance_matrix(features(model, data.query),
                                              features(model, data.gallery)).numpy()  # fmt: skip
    q_pids, q_cams = (np.array([q[k] for q in data.query]) for k in (1, 2))
    g_pids, g_cams = (np.array([g[k] for g in data.gallery]) for k in (1, 2))
    cmc, mean_ap = metrics.evaluate_rank(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=20,
                                         use_cython=False)  # fmt: skip
    ours = rank_metrics(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=20)
    agree = abs(ours.rank1 - cmc[0]) < 1e-6 and abs(ours.mean_ap - mean_ap) < 1e-6
    return {"rank1": 100 * float(cmc[0]), "mAP": 100 * float(mean_ap),
            "rank5": 100 * float(cmc[4]), "ours_agree": bool(agree)}  # fmt: skip


def chance_level(root: str, draws: int = 200) -> dict:
    """Rank-1 / mAP (%) of random distances on ``root``'s query/gallery: the floor."""
    data = load_tree(root)
    q_pids, q_cams = (np.array([q[k] for q in data.query]) for k in (1, 2))
    g_pids, g_cams = (np.array([g[k] for g in data.gallery]) for k in (1, 2))
    rng = np.random.default_rng(0)
    found = [rank_metrics(rng.random((len(q_pids), len(g_pids))), q_pids, g_pids, q_cams, g_cams)
             for _ in range(draws)]  # fmt: skip
    return {"rank1": round(100 * float(np.mean([m.rank1 for m in found])), 2),
            "mAP": round(100 * float(np.mean([m.mean_ap for m in found])), 2)}  # fmt: skip


def histogram_features(items: list, bins: tuple[int, int, int] = (8, 4, 4)) -> np.ndarray:
    """(N, prod(bins)) square-rooted HSV histograms of the crops' central half (the person)."""
    import cv2

    feats = []
    for item in items:
        rgb = np.asarray(Image.open(item[0]).convert("RGB"))
        h, w = rgb.shape[:2]
        hsv = cv2.cvtColor(rgb[h // 8 : h - h // 8, w // 4 : w - w // 4], cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, list(bins), [0, 180, 0, 256, 0, 256])
        feats.append(np.sqrt(hist.ravel() / max(hist.sum(), 1.0)))
    return np.stack(feats)


def histogram_reference(root: str) -> dict:
    """Rank-1 / mAP (%) of a training-free colour histogram on ``root``'s query/gallery: how
    much of the task plain clothing colour solves (a learnt model should beat it)."""
    data = load_tree(root)
    q, g = histogram_features(data.query), histogram_features(data.gallery)
    distmat = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
    q_pids, q_cams = (np.array([x[k] for x in data.query]) for k in (1, 2))
    g_pids, g_cams = (np.array([x[k] for x in data.gallery]) for k in (1, 2))
    found = rank_metrics(distmat, q_pids, g_pids, q_cams, g_cams)
    return {"rank1": round(100 * found.rank1, 2), "mAP": round(100 * found.mean_ap, 2)}


def run_arm(root: str, recipe: TrainRecipe, seed: int, label: str) -> dict:
    """Train on ``root``'s training set with ``seed``, evaluate; figures and seconds."""
    started = time.perf_counter()
    data = load_tree(root)
    data.train = select_added(data.train, recipe.added_per_identity)
    model, stats = train_model(data, recipe, seed, label)
    result = evaluate(model, data)
    added = sum(is_added(item) for item in data.train)
    return {**result, "train_images": len(data.train), "added_images": added, **stats,
            "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
