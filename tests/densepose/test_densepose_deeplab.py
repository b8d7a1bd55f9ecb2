"""DeepLab-head models (``_DL_`` configs): official key names and shapes, loading, inference.

The expected names and shapes are written out from detectron2's
``projects/DensePose/densepose/modeling/roi_heads/deeplab.py`` (``DensePoseDeepLabHead``,
``ASPP``, ``ASPPConv``, ``ASPPPooling``, ``NONLocalBlock2D``) with the configs' values:
FPN/decoder channels 256 into the head, ``CONV_HEAD_DIM`` 512, 8 convs, ``DEEPLAB.NORM`` GN.
"""

from __future__ import annotations

import pytest
import torch
from detectron2.modeling import build_model
from torch.nn import functional as F

from dpt_core.densepose.config import SHIPPED_CONFIGS, load_config
from dpt_core.densepose.deeplab import ASPP, DensePoseDeepLabHead, NonLocalBlock2D
from dpt_core.densepose.model import DensePoseModel, save_random_weights
from dpt_core.densepose.roi_heads import register_densepose

HEAD = "roi_heads.densepose_head"
DL_CONFIGS = [name for name in SHIPPED_CONFIGS if "_DL_" in name]


def _official_deeplab_head(in_ch: int = 256, hidden: int = 512) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    aspp = f"{HEAD}.ASPP"
    # convs.0: Sequential(Conv2d 1x1 no bias, GroupNorm(32), ReLU)
    shapes[f"{aspp}.convs.0.0.weight"] = (in_ch, in_ch, 1, 1)
    # convs.1..3: ASPPConv = Sequential(Conv2d 3x3 dilated no bias, GroupNorm(32), ReLU)
    for i in (1, 2, 3):
        shapes[f"{aspp}.convs.{i}.0.weight"] = (in_ch, in_ch, 3, 3)
    # convs.4: ASPPPooling = Sequential(AdaptiveAvgPool2d, Conv2d 1x1 no bias, GroupNorm, ReLU)
    shapes[f"{aspp}.convs.4.1.weight"] = (in_ch, in_ch, 1, 1)
    for gn in ("convs.0.1", "convs.1.1", "convs.2.1", "convs.3.1", "convs.4.2"):
        shapes[f"{aspp}.{gn}.weight"] = shapes[f"{aspp}.{gn}.bias"] = (in_ch,)
    # project: Sequential(Conv2d(5 * in, in, 1, bias=False), ReLU)
    shapes[f"{aspp}.project.0.weight"] = (in_ch, 5 * in_ch, 1, 1)
    # body_conv_fcn1..8: detectron2 Conv2d(bias=not norm, norm=GroupNorm(32, hidden))
    for i in range(1, 9):
        shapes[f"{HEAD}.body_conv_fcn{i}.weight"] = (hidden, in_ch if i == 1 else hidden, 3, 3)
        shapes[f"{HEAD}.body_conv_fcn{i}.norm.weight"] = (hidden,)
        shapes[f"{HEAD}.body_conv_fcn{i}.norm.bias"] = (hidden,)
    return shapes


def _official_nonlocal(in_ch: int = 256) -> dict[str, tuple[int, ...]]:
    inter, nl = in_ch // 2, f"{HEAD}.NLBlock"
    return {  # sub_sample=True wraps g and phi with a max pool; bn_layer=True adds W.1 (GN)
        f"{nl}.g.0.weight": (inter, in_ch, 1, 1),
        f"{nl}.g.0.bias": (inter,),
        f"{nl}.W.0.weight": (in_ch, inter, 1, 1),
        f"{nl}.W.0.bias": (in_ch,),
        f"{nl}.W.1.weight": (in_ch,),
        f"{nl}.W.1.bias": (in_ch,),
        f"{nl}.theta.weight": (inter, in_ch, 1, 1),
        f"{nl}.theta.bias": (inter,),
        f"{nl}.phi.0.weight": (inter, in_ch, 1, 1),
        f"{nl}.phi.0.bias": (inter,),
    }


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _build(config: str, overrides: dict | None = None) -> torch.nn.Module:
    register_densepose()
    return build_model(load_config(config, overrides or {}))


def test_every_dl_config_is_shipped():
    assert DL_CONFIGS == ["densepose_rcnn_R_50_FPN_DL_s1x", "densepose_rcnn_R_101_FPN_DL_s1x"]


@pytest.mark.parametrize("config", DL_CONFIGS)
def test_dl_keys_and_shapes_are_the_official_ones(config):
    dl = _shapes(_build(config))
    head = {k: v for k, v in dl.items() if k.startswith(f"{HEAD}.")}
    assert head == _official_deeplab_head()
    # Everything else (backbone, RPN, box head, decoder, predictor) is the 8-conv model's.
    s1x = _shapes(_build(config.replace("_DL", "")))
    assert {k: v for k, v in dl.items() if k not in head} == {
        k: v for k, v in s1x.items() if not k.startswith(f"{HEAD}.")
    }


def test_nonlocal_block_keys_when_enabled():
    shapes = _shapes(_build(DL_CONFIGS[0], {"MODEL.ROI_DENSEPOSE_HEAD.DEEPLAB.NONLOCAL_ON": 1}))
    head = {k: v for k, v in shapes.items() if k.startswith(f"{HEAD}.")}
    assert head == {**_official_deeplab_head(), **_official_nonlocal()}


def test_dl_model_saves_loads_strictly_and_runs(tmp_path, studio_images):
    url = str(tmp_path / "model_final_0ed407.pkl")
    save_random_weights(url, DL_CONFIGS[0], "pkl", seed=1)
    overrides = {"INPUT.MIN_SIZE_TEST": 0, "TEST.DETECTIONS_PER_IMAGE": 1}
    model = DensePoseModel.build(DL_CONFIGS[0], url, allow_pickle=True, overrides=overrides)
    assert model.weights.n_tensors == len(model.model.state_dict())  # none missing or extra
    (instances,) = model.forward(studio_images[:1])
    assert tuple(instances.pred_densepose.u.shape) == (1, 25, 112, 112)
    (results,) = model.predict(studio_images[:1])
    assert (results[0].iuv_hw3[..., 0] > 0).any()
    with pytest.raises(ValueError, match=r"missing keys.*unexpected keys"):
        DensePoseModel.build("densepose_rcnn_R_50_FPN_s1x", url, allow_pickle=True)


def test_dilation_56_on_a_28x28_roi_reads_only_the_centre_tap():
    # With padding = dilation = 56, every tap but the centre one of the 3x3 kernel falls in
    # the zero padding of a 28x28 input: the branch is a 1x1 conv by the centre weights.
    torch.manual_seed(0)
    aspp = ASPP(64, (6, 12, 56), 64).eval()
    x = torch.randn(2, 64, 28, 28)
    branch = aspp.convs[3]
    centre = F.conv2d(x, branch[0].weight[:, :, 1:2, 1:2])
    expected = F.relu(branch[1](centre))
    torch.testing.assert_close(branch(x), expected, rtol=1e-5, atol=1e-5)
    pooled = aspp.convs[4](x)  # image pooling: one value per channel, broadcast
    assert pooled.shape == x.shape
    torch.testing.assert_close(pooled, pooled[..., :1, :1].expand_as(x))
    assert aspp(x).shape == (2, 64, 28, 28) and bool((aspp(x) >= 0).all())


def test_nonlocal_block_follows_the_embedded_gaussian_formula():
    torch.manual_seed(0)
    block = NonLocalBlock2D(64).eval()
    x = torch.randn(1, 64, 6, 6)
    torch.testing.assert_close(block(x), x)  # W's GroupNorm starts at zero: identity
    torch.nn.init.normal_(block.W[1].weight)
    # z = x + W(y), y at position p = sum_q softmax_q(theta(x)_p . phi(x)_q) g(x)_q, where
    # phi and g are 2x2 max-pooled (9 positions for a 6x6 map).
    theta = block.theta(x)[0].flatten(1)  # (32, 36)
    phi, g = block.phi(x)[0].flatten(1), block.g(x)[0].flatten(1)  # (32, 9) each
    y = torch.stack([(torch.softmax(theta[:, p] @ phi, 0) * g).sum(1) for p in range(36)], 1)
    expected = block.W(y.reshape(1, 32, 6, 6)) + x
    torch.testing.assert_close(block(x), expected, rtol=1e-4, atol=1e-5)


def test_bad_deeplab_settings_are_refused():
    with pytest.raises(ValueError, match=r"DEEPLAB\.NORM"):
        load_config(DL_CONFIGS[0], {"MODEL.ROI_DENSEPOSE_HEAD.DEEPLAB.NORM": "BN"})
    with pytest.raises(ValueError, match="divisible by 32"):
        DensePoseDeepLabHead(in_channels=48)
    no_norm = DensePoseDeepLabHead(64, hidden_dim=64, n_convs=2, norm="")
    assert {k for k in no_norm.state_dict() if "body" in k} == {
        f"body_conv_fcn{i}.{p}" for i in (1, 2) for p in ("weight", "bias")
    }
