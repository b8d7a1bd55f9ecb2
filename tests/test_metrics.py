"""Metrics: image metrics against hand-computed values and skimage, learned-metric weight files in
their official formats (made here with random tensors), FID/IS formulas, texture completion."""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from dpt_core import metrics, storage
from dpt_core.metrics import inception as inception_mod
from dpt_core.metrics import structural
from dpt_core.metrics.lpips import FEATURE_TAPS, LINEAR_CHANNELS

C1, C2 = (0.01) ** 2, (0.03) ** 2


def _rng_image(seed: int, h: int = 48, w: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _smooth_image(seed: int, size: int) -> torch.Tensor:
    """(1, 3, size, size) float image with structure at several scales."""
    noise = torch.rand(1, 3, size // 8, size // 8, generator=torch.Generator().manual_seed(seed))
    return nn.functional.interpolate(noise, size=(size, size), mode="bilinear")


def _noisy(image: torch.Tensor, sigma: float, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (image + sigma * torch.randn(image.shape, generator=gen)).clamp(0, 1)


def _save(url: str, state: dict[str, torch.Tensor]) -> str:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    storage.write_bytes(url, buffer.getvalue())
    return url


# ------------------------------------------------------------------------------- SSIM & co


def _ssim_direct(x_hwc: np.ndarray, y_hwc: np.ndarray) -> float:
    """SSIM of an 11×11 image: one window position, the 2004 formula written out."""
    k = np.arange(11) - 5
    g = np.exp(-(k**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    values = []
    for c in range(3):
        x, y = x_hwc[..., c], y_hwc[..., c]
        mx, my = (w * x).sum(), (w * y).sum()
        vx, vy = (w * x * x).sum() - mx**2, (w * y * y).sum() - my**2
        cxy = (w * x * y).sum() - mx * my
        values.append((2 * mx * my + C1) * (2 * cxy + C2) / ((mx**2 + my**2 + C1) * (vx + vy + C2)))
    return float(np.mean(values))


def test_ssim_matches_the_direct_formula_on_one_window() -> None:
    x, y = _rng_image(0, 11, 11), _rng_image(1, 11, 11)
    expected = _ssim_direct(x / 255.0, y / 255.0)
    assert float(metrics.ssim(x, y)[0]) == pytest.approx(expected, abs=1e-5)


def test_ssim_and_ms_ssim_of_constant_images_by_hand() -> None:
    # Zero variances: contrast-structure term is C2/C2 = 1, luminance (2ab+C1)/(a²+b²+C1).
    a = torch.full((1, 3, 176, 176), 0.5)
    b = torch.full((1, 3, 176, 176), 0.25)
    luminance = (2 * 0.5 * 0.25 + C1) / (0.5**2 + 0.25**2 + C1)
    assert float(metrics.ssim(a, b)[0]) == pytest.approx(luminance, abs=1e-6)
    assert float(metrics.ms_ssim(a, b)[0]) == pytest.approx(luminance**0.1333, abs=1e-6)


def test_ssim_matches_skimage_per_image() -> None:
    skm = pytest.importorskip("skimage.metrics")
    x = np.stack([_rng_image(2), _rng_image(3)])
    noise = np.random.default_rng(4).integers(-30, 31, x.shape)
    y = np.clip(x.astype(int) + noise, 0, 255).astype(np.uint8)
    ours = metrics.ssim(x, y)
    for i in range(2):
        ref = skm.structural_similarity(
            x[i] / 255.0,
            y[i] / 255.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=2,
        )
        assert float(ours[i]) == pytest.approx(ref, abs=1e-5)


def test_ms_ssim_matches_pytorch_msssim_on_even_sizes() -> None:
    reference = pytest.importorskip("pytorch_msssim")
    x = _smooth_image(7, 176)
    y = _noisy(x, 0.1)
    ref = reference.ms_ssim(
        x,
        y,
        data_range=1.0,
        size_average=False,
        win_size=11,
        win_sigma=1.5,
        weights=[0.0448, 0.2856, 0.3001, 0.2363, 0.1333],
        K=(0.01, 0.03),
    )
    assert torch.allclose(metrics.ms_ssim(x, y), ref, atol=1e-5)
    ref_ssim = reference.ssim(
        x, y, data_range=1.0, size_average=False, win_size=11, win_sigma=1.5, K=(0.01, 0.03)
    )
    assert torch.allclose(metrics.ssim(x, y), ref_ssim, atol=1e-5)


def test_ms_ssim_halves_odd_sides_by_repeating_the_edge() -> None:
    image = torch.arange(9.0).view(1, 1, 3, 3)
    # padded to [[0,1,2,2],[3,4,5,5],[6,7,8,8],[6,7,8,8]], then 2×2 means
    expected = torch.tensor([[[[2.0, 3.5], [6.5, 8.0]]]])
    assert torch.equal(structural._halve(image), expected)
    odd = _smooth_image(9, 176)[..., :171, :165]
    assert 0.0 < float(metrics.ms_ssim(odd, _noisy(odd, 0.1))[0]) < 1.0


def test_ssim_identities_and_degradations() -> None:
    x = _smooth_image(0, 64)
    y = _noisy(x, 0.1)
    assert float(metrics.ssim(x, x)[0]) == pytest.approx(1.0, abs=1e-6)
    assert float(metrics.ssim(x, y)[0]) == pytest.approx(float(metrics.ssim(y, x)[0]), abs=1e-6)
    scores = [float(metrics.ssim(x, _noisy(x, s))[0]) for s in (0.02, 0.1, 0.3)]
    assert 1.0 > scores[0] > scores[1] > scores[2]
    sharp = _noisy(x, 0.2, seed=5)
    blurred = nn.functional.avg_pool2d(sharp, 5, stride=1, padding=2, count_include_pad=False)
    assert float(metrics.ssim(sharp, blurred)[0]) < 0.9


def test_ms_ssim_identities_and_size_limit() -> None:
    x = _smooth_image(1, 176)
    assert float(metrics.ms_ssim(x, x)[0]) == pytest.approx(1.0, abs=1e-6)
    low, high = (float(metrics.ms_ssim(x, _noisy(x, s))[0]) for s in (0.05, 0.3))
    assert 1.0 > low > high
    with pytest.raises(ValueError, match=r"MS-SSIM needs .*161"):
        metrics.ms_ssim(x[..., :160, :], x[..., :160, :])


def test_psnr_l1_by_hand_with_and_without_mask() -> None:
    target = torch.zeros(1, 3, 4, 4)
    pred = torch.full((1, 3, 4, 4), 0.1)
    assert float(metrics.psnr(pred, target)[0]) == pytest.approx(20.0, abs=1e-4)
    assert float(metrics.l1(pred, target)[0]) == pytest.approx(0.1, abs=1e-7)
    assert math.isinf(float(metrics.psnr(target, target)[0]))
    pred_left = target.clone()
    pred_left[..., :2] = 0.4  # differs only in the two left columns
    mask = np.zeros((4, 4), dtype=np.uint8)
    mask[:, 2:] = 255
    assert float(metrics.l1(pred_left, target)[0]) == pytest.approx(0.2, abs=1e-7)
    assert float(metrics.l1(pred_left, target, mask)[0]) == 0.0
    assert math.isinf(float(metrics.psnr(pred_left, target, mask)[0]))
    assert float(metrics.l1(pred_left, target, 255 - mask)[0]) == pytest.approx(0.4, abs=1e-7)


def test_uint8_hwc_and_float_bchw_inputs_agree() -> None:
    x, y = _rng_image(5), _rng_image(6)
    xt = torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255
    yt = torch.from_numpy(y).permute(2, 0, 1)[None].float() / 255
    for fn in (metrics.ssim, metrics.psnr, metrics.l1):
        assert torch.allclose(fn(x, y), fn(xt, yt), atol=1e-6)
    batched = metrics.ssim(np.stack([x, y]), np.stack([y, y]))
    one_by_one = torch.cat([metrics.ssim(x, y), metrics.ssim(y, y)])
    assert torch.allclose(batched, one_by_one, rtol=0, atol=1e-6)  # other batch, other kernels


def test_bad_inputs_name_the_argument() -> None:
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match=r"pred: float images must lie in \[0, 1\]"):
        metrics.psnr(x * 2, x)
    with pytest.raises(ValueError, match="target: tensors must be"):
        metrics.l1(x, torch.rand(1, 4, 16, 16))
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.l1(x, torch.rand(1, 3, 16, 15))
    with pytest.raises(ValueError, match="mask: expected"):
        metrics.l1(x, x, np.ones((15, 16), bool))
    with pytest.raises(ValueError, match="pred: expected a numpy array"):
        metrics.ssim([[0]], x)


# ----------------------------------------------------------------------- table of metrics


def test_compute_image_metrics_rows_and_means() -> None:
    pred = np.stack([_rng_image(7), _rng_image(8)])
    target = np.stack([_rng_image(9), _rng_image(8)])
    masks = np.zeros((2, 48, 40), dtype=bool)
    masks[0, 10:30, 5:25] = True  # second image: empty mask
    rows = metrics.compute_image_metrics_batch(pred, target, masks)
    assert [list(r) for r in rows] == [list(metrics.IMAGE_COLUMNS)] * 2
    assert rows[1]["ssim"] == pytest.approx(1.0, abs=1e-6) and rows[1]["l1"] == 0.0
    assert rows[1]["l1_mask"] == rows[1]["ssim_mask"] == "not computed: empty person mask"
    assert rows[0]["lpips"] == "not computed: no LPIPS model given (see load_lpips)"
    assert str(rows[0]["ms_ssim"]).startswith("not computed: MS-SSIM needs ≥ 161 px")
    mean = metrics.compute_image_metrics(pred, target, masks)
    assert mean["ssim"] == pytest.approx((rows[0]["ssim"] + rows[1]["ssim"]) / 2, abs=1e-6)
    assert mean["l1_mask"] == pytest.approx(rows[0]["l1_mask"], abs=1e-7)
    single = metrics.compute_image_metrics(pred[0], target[0])
    assert single["psnr"] == pytest.approx(rows[0]["psnr"], abs=1e-4)
    assert single["ssim_mask"] == "not computed: no person mask given"


# ------------------------------------------------------------------------------------ LPIPS


def _lpips_files(tmp_path, net: str = "alex") -> tuple[str, str, dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    lin = {
        f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=gen)
        for k, c in enumerate(LINEAR_CHANNELS[net])
    }
    torch.manual_seed(0)
    features = torchvision.models.alexnet(weights=None).features
    backbone = {f"features.{k}": v for k, v in features.state_dict().items()}
    backbone["classifier.6.bias"] = torch.zeros(1000)  # other keys of the file are ignored
    linear_url = _save(str(tmp_path / f"{net}.pth"), lin)
    backbone_url = _save("memory://dpt-test-metrics/alexnet-owt.pth", backbone)
    return linear_url, backbone_url, {**lin, **backbone}


def _lpips_reference(state: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> float:
    """LPIPS-alex written out over torchvision's own AlexNet."""
    net = torchvision.models.alexnet(weights=None).features
    net.load_state_dict({k[9:]: v for k, v in state.items() if k.startswith("features.")})
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    feats = []
    for img in (x, y):
        h, taps = (img * 2 - 1 - shift) / scale, []
        for i, layer in enumerate(net):
            h = layer(h.clone())
            if i in (1, 4, 7, 9, 11):
                taps.append(h / (torch.sqrt((h**2).sum(1, keepdim=True)) + 1e-10))
        feats.append(taps)
    total = 0.0
    for k, (a, b) in enumerate(zip(*feats, strict=True)):
        w = state[f"lin{k}.model.1.weight"].view(1, -1, 1, 1)
        total += float(((a - b) ** 2 * w).sum(1).mean())
    return total


def test_lpips_loads_official_format_and_matches_reference(tmp_path) -> None:
    linear_url, backbone_url, state = _lpips_files(tmp_path)
    model = metrics.load_lpips(metrics.MetricWeights(linear_url, backbone_url, "alex"))
    assert isinstance(model, metrics.LPIPS)
    x, y = _smooth_image(2, 64), _noisy(_smooth_image(2, 64), 0.2)
    with torch.no_grad():
        d = model(torch.cat([x, y]), torch.cat([y, y]))
        assert float(d[0]) == pytest.approx(_lpips_reference(state, x, y), rel=1e-4)
        assert float(d[1]) == pytest.approx(0.0, abs=1e-7)
        assert float(model(y, x)[0]) == pytest.approx(float(d[0]), rel=1e-5)
    row = metrics.compute_image_metrics(x, y, lpips_model=model)
    assert row["lpips"] == pytest.approx(float(d[0]), rel=1e-5)


def test_lpips_layouts_match_torchvision_backbones() -> None:
    for net, tv in (("alex", torchvision.models.alexnet), ("vgg", torchvision.models.vgg16)):
        ours = metrics.LPIPS(net).features.state_dict()
        theirs = tv(weights=None).features.state_dict()
        assert {k: v.shape for k, v in ours.items()} == {k: theirs[k].shape for k in ours}
        layers = list(tv(weights=None).features)
        assert all(isinstance(layers[i], nn.ReLU) for i in FEATURE_TAPS[net])
        taps_channels = [
            [m for m in layers[:i] if isinstance(m, nn.Conv2d)][-1].out_channels
            for i in FEATURE_TAPS[net]
        ]
        assert tuple(taps_channels) == LINEAR_CHANNELS[net]


def test_lpips_not_computed_and_bad_files(tmp_path) -> None:
    assert str(metrics.load_lpips(None)).startswith("not computed: no LPIPS linear-layer")
    partial = metrics.load_lpips(metrics.MetricWeights(lpips_linear="x.pth"))
    assert str(partial) == (
        "not computed: no LPIPS backbone weights configured (MetricWeights.lpips_backbone)"
    )
    linear_url, backbone_url, _ = _lpips_files(tmp_path)
    with pytest.raises(
        ValueError,
        match=re.escape("'lin1.model.1.weight' has shape (1, 192, 1, 1), expected (1, 128"),
    ):
        metrics.LPIPS.from_files(linear_url, backbone_url, net="vgg")
    with pytest.raises(FileNotFoundError, match=r"missing\.pth"):
        metrics.LPIPS.from_files(str(tmp_path / "missing.pth"), backbone_url)
    garbage = str(tmp_path / "garbage.pth")
    storage.write_bytes(garbage, b"not a torch file")
    with pytest.raises(ValueError, match=r"garbage\.pth is not a readable torch weight file"):
        metrics.LPIPS.from_files(garbage, backbone_url)
    with pytest.raises(ValueError, match="needs at least 32 px"):
        metrics.LPIPS("alex")(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16))


# -------------------------------------------------------------------------------- FID / IS


def test_frechet_distance_by_hand_and_against_scipy() -> None:
    mean1, mean2 = torch.tensor([0.0, 0.0]), torch.tensor([1.0, 2.0])
    cov1, cov2 = torch.diag(torch.tensor([1.0, 4.0])), torch.diag(torch.tensor([4.0, 1.0]))
    # |Δμ|² = 5; tr = 5 + 5 - 2 (√4 + √4) = 2
    assert metrics.frechet_distance(mean1, cov1, mean2, cov2) == pytest.approx(7.0, abs=1e-9)
    assert metrics.frechet_distance(mean1, cov1, mean1, cov1) == pytest.approx(0.0, abs=1e-9)
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 6)), rng.normal(size=(40, 6)) * 1.5 + 0.3
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    d = a.mean(0) - b.mean(0)
    ref = d @ d + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    ours = metrics.frechet_distance(*map(torch.from_numpy, (a.mean(0), s1, b.mean(0), s2)))
    assert ours == pytest.approx(ref, rel=1e-8)


def test_inception_score_by_hand() -> None:
    assert metrics.inception_score(torch.full((10, 5), 0.2), splits=2) == pytest.approx((1, 0))
    one_hot = torch.eye(4).repeat(4, 1)  # 16 rows, every class 2× in each of 2 splits
    assert metrics.inception_score(one_hot, splits=2) == pytest.approx((4.0, 0.0))
    probs = torch.tensor([[1.0, 0.0], [0.5, 0.5]])  # marginal (0.75, 0.25)
    kl = (math.log(1 / 0.75) + 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)) / 2
    assert metrics.inception_score(probs, splits=1)[0] == pytest.approx(math.exp(kl))
    with pytest.raises(ValueError, match="at least 10 rows"):
        metrics.inception_score(probs)


def test_feature_stats_match_numpy_over_batches() -> None:
    rows = torch.randn(30, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    stats = metrics.FeatureStats(dim=5)
    for chunk in rows.split(7):
        stats.add(chunk)
    assert stats.n == 30
    assert np.allclose(stats.mean().numpy(), rows.numpy().mean(0))
    assert np.allclose(stats.cov().numpy(), np.cov(rows.numpy(), rowvar=False))


def test_fid_blocks_pool_as_pytorch_fid_does() -> None:
    x = torch.rand(1, 192, 9, 9)
    ours = inception_mod._FidInceptionA(192, pool_features=32).eval()
    tv = torchvision.models.inception.InceptionA(192, pool_features=32).eval()
    tv.load_state_dict(ours.state_dict())
    out, ref = ours(x), tv(x)
    assert torch.allclose(out[:, :224], ref[:, :224], atol=1e-6)  # 64 + 64 + 96 unchanged
    pooled = nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    assert torch.allclose(out[:, 224:], ours.branch_pool(pooled), atol=1e-6)
    assert not torch.allclose(out[:, 224:], ref[:, 224:])  # corners differ from torchvision
    e2 = inception_mod._FidInceptionE(64, inception_mod._max_pool).eval()
    y = torch.rand(1, 64, 5, 5)
    pooled = nn.functional.max_pool2d(y, 3, 1, 1)
    assert torch.allclose(e2(y)[:, -192:], e2.branch_pool(pooled), atol=1e-6)


def _inception_file(url: str) -> dict[str, torch.Tensor]:
    """Random weights under pytorch-fid's key names and shapes (torchvision's Inception3)."""
    torch.manual_seed(0)
    net = torchvision.models.inception.Inception3(
        num_classes=1008, aux_logits=False, init_weights=False
    )
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight)  # keeps activations O(1) through the net
    state = {k: v for k, v in net.state_dict().items() if "num_batches_tracked" not in k}
    _save(url, state)
    return state


@pytest.fixture(scope="module")
def inception_url(tmp_path_factory) -> str:
    url = str(tmp_path_factory.mktemp("weights") / "pt_inception-2015-12-05-6726825d.pth")
    _inception_file(url)
    return url


def test_inception_loads_pytorch_fid_weight_file(inception_url) -> None:
    model = metrics.load_inception(metrics.MetricWeights(inception=inception_url))
    assert isinstance(model, metrics.FidInception)
    state = torch.load(inception_url, weights_only=True)
    loaded = model.net.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert model.net.fc.weight.shape == (1008, 2048)


@pytest.mark.slow
def test_fid_and_is_through_the_network(inception_url) -> None:
    model = metrics.FidInception.from_file(inception_url)
    fake = torch.cat([_smooth_image(3, 64), _noisy(_smooth_image(4, 64), 0.3)])
    real = [_smooth_image(5, 48), _smooth_image(6, 48)]  # two batches of another size
    out = metrics.compute_set_metrics([fake], real, inception=model, splits=1)
    assert out["n_fake"] == 2 and out["n_real"] == 2 and out["fid"] > 0.0
    assert 1.0 < out["is_mean"] <= 2.0 and out["is_std"] == 0.0  # IS ≤ images per split
    stats = metrics.collect_stats(model, [fake[:1], fake[1:]], keep_probs=True)
    pool, logits = model(fake)
    assert pool.shape == (2, 2048) and torch.isfinite(pool).all()
    assert torch.allclose(logits, pool @ model.net.fc.weight.T, atol=1e-5)
    assert torch.allclose(stats.mean().float(), pool.mean(0), atol=1e-5)
    assert torch.allclose(stats.probs().float(), torch.softmax(logits, 1), atol=1e-6)


def test_set_metrics_not_computed_reasons(inception_url) -> None:
    reason = "not computed: no Inception weights configured (MetricWeights.inception)"
    nothing = metrics.compute_set_metrics([], [], inception=metrics.load_inception(None))
    assert nothing["fid"] == reason and nothing["is_mean"] == reason
    empty = metrics.compute_set_metrics([], None, inception=metrics.FidInception())
    assert empty["fid"] == "not computed: no real images given"
    assert empty["is_mean"] == "not computed: IS needs ≥ 10 images (one per split), got 0"


def test_inception_rejects_other_weight_files(tmp_path, inception_url) -> None:
    partial = _save(str(tmp_path / "partial.pth"), {"fc.weight": torch.zeros(1008, 2048)})
    with pytest.raises(ValueError, match=r"partial\.pth lacks \d+ expected keys"):
        metrics.FidInception.from_file(partial)
    state = torch.load(inception_url, weights_only=True)  # an ImageNet head: 1000 classes
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 2048), torch.zeros(1000)
    imagenet = _save(str(tmp_path / "imagenet.pth"), state)
    with pytest.raises(ValueError, match=re.escape("'fc.weight' has shape (1000, 2048)")):
        metrics.FidInception.from_file(imagenet)


# --------------------------------------------------------------------------------- texture


def test_part_map_follows_tile_layout() -> None:
    expected = np.arange(1, 25).reshape(4, 6).T  # part p at tile row (p-1)%6, col (p-1)//6
    assert np.array_equal(metrics.part_map(1), expected)
    assert np.array_equal(metrics.part_map(2)[::2, ::2], expected)


def test_texture_completion_error_by_hand() -> None:
    gt = np.zeros((6, 4, 3), np.uint8)
    pred = gt.copy()
    pred[0, 0] = 255  # seen: not scored
    pred[0, 1] = 51  # unseen, on the body: |51/255| = 0.2 on all three channels
    pred[0, 2] = 255  # unseen, off the body: not scored
    seen = np.zeros((6, 4), bool)
    seen[0, 0] = True
    body = np.ones((6, 4), bool)
    body[0, 2] = False
    # 22 scored texels, one with error 0.2
    assert metrics.texture_completion_error(pred, gt, seen, body) == pytest.approx(0.2 / 22)
    assert metrics.texture_completion_error(pred, gt, seen) == pytest.approx(1.2 / 23)
    with pytest.raises(ValueError, match="no unseen body texel"):
        metrics.texture_completion_error(pred, gt, np.ones((6, 4), bool))
    with pytest.raises(ValueError, match="seen_mask: expected a"):
        metrics.texture_completion_error(pred, gt, seen[:5])


def test_mean_part_colour_fill_by_hand() -> None:
    atlas = np.zeros((12, 8, 3), np.uint8)
    seen = np.zeros((12, 8), bool)
    atlas[0, 0], atlas[1, 1] = 10, 30  # part 1 tile: rows 0-1, cols 0-1
    seen[0, 0] = seen[1, 1] = True
    atlas[2, 0] = 100  # part 2 tile: rows 2-3, cols 0-1
    seen[2, 0] = True
    filled = metrics.mean_part_colour_fill(atlas, seen, n=2)
    assert filled.dtype == np.uint8 and filled.shape == atlas.shape
    assert filled[0, 1, 0] == 20 and filled[1, 0, 0] == 20 and filled[1, 1, 0] == 30
    assert (filled[2:4, 0:2] == 100).all()
    assert (filled[4:6, 0:2] == round((10 + 30 + 100) / 3)).all()  # unseen part: global mean
    with pytest.raises(ValueError, match="partial_atlas: expected"):
        metrics.mean_part_colour_fill(atlas, seen, n=3)


def test_nearest_view_fill_takes_first_view_that_sees() -> None:
    partial = np.zeros((6, 4, 3), np.float32)
    seen = np.zeros((6, 4), bool)
    seen[0, 0] = True
    partial[0, 0] = 0.9
    views = [np.full((6, 4, 3), 0.1, np.float32), np.full((6, 4, 3), 0.2, np.float32)]
    vis = [np.zeros((6, 4), bool), np.zeros((6, 4), bool)]
    vis[0][1, :] = True
    vis[1][1:3, :] = True
    vis[1][0, 0] = True
    filled = metrics.nearest_view_fill(partial, seen, views, vis)
    assert filled[0, 0, 0] == np.float32(0.9)  # seen by the source: kept
    assert (filled[1] == np.float32(0.1)).all() and (filled[2] == np.float32(0.2)).all()
    assert (filled[3:] == 0).all()  # seen by no view: unchanged
    with pytest.raises(ValueError, match=r"other_atlases\[0\]: expected"):
        metrics.nearest_view_fill(partial, seen, [views[0].astype(np.uint8)], vis[:1])
