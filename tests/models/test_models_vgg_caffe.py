"""VGG-19 in the original Caffe layout: the protobuf reader, the forms of a Caffe file, the
preprocessing per layout, clear errors, and one training step with perceptual + style on."""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from caffe_writer import blob, caffemodel, int_field, layer, len_field

from dpt_core.losses import build_vgg_loss, losses_record
from dpt_core.models import DensePoseTransfer
from dpt_core.models.vgg import (
    CAFFE_MEAN_BGR,
    CONV_NAMES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    VGG19Features,
    caffe_normalize,
)
from dpt_core.models.vgg_caffe import iter_fields, parse_blob, read_caffemodel
from dpt_core.train.config import load_config
from dpt_core.train.distributed import DistContext
from dpt_core.train.steps import STEPS, Amp

TINY_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "train" / "tiny.yaml"
SHALLOW = ("relu1_2", "relu2_2")  # conv1_1 .. conv2_2: the small files of most tests


def caffe_renamed(tv_state: dict[str, torch.Tensor], convs: int = 16) -> dict[str, torch.Tensor]:
    """The first ``convs`` convolutions of a torchvision state dict under Caffe names, as is."""
    items = list(CONV_NAMES.items())[:convs]
    return {f"{name}.{kind}": tv_state[f"features.{i}.{kind}"]
            for i, name in items for kind in ("weight", "bias")}  # fmt: skip


def caffe_equivalent(tv_state: dict[str, torch.Tensor], convs: int = 16) -> dict[str, torch.Tensor]:
    """Caffe-layout weights computing the same function as ``tv_state``: conv1_1's input
    channels reordered RGB -> BGR, and the input convention folded into it. Caffe input
    c = 255·x - m and torchvision input z = (x - μ)/σ give z = c / (255σ) + (m/255 - μ)/σ,
    so W_caffe = W / (255σ) (per input channel) and b_caffe = b + Σ W·(m/255 - μ)/σ."""
    state = caffe_renamed(tv_state, convs)
    mean_rgb = torch.tensor(CAFFE_MEAN_BGR).flip(0)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    offset = ((mean_rgb / 255 - torch.tensor(IMAGENET_MEAN)) / std.flatten()).view(1, 3, 1, 1)
    weight, bias = state["conv1_1.weight"], state["conv1_1.bias"]
    state["conv1_1.bias"] = bias + (weight * offset).sum(dim=(1, 2, 3))
    state["conv1_1.weight"] = (weight / (255 * std)).flip(1)
    return state


def save_npz(path: Path, state: dict[str, torch.Tensor]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, tensor in state.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, tensor.numpy(), allow_pickle=False)
            archive.writestr(f"{name}.npy", buffer.getvalue())


def images(seed: int = 0, size: int = 32) -> torch.Tensor:
    """(2, 3, size, size) smooth RGB images in [-1, 1]."""
    coarse = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")


def features(vgg: VGG19Features, x: torch.Tensor) -> list[torch.Tensor]:
    return vgg(vgg.normalize(x))


def test_protobuf_fields_by_hand() -> None:
    # the protobuf guide's examples: field 1 = 150 (varint 0x96 0x01), field 2 = "testing"
    fields = list(iter_fields(memoryview(b"\x08\x96\x01\x12\x07testing")))
    assert fields[0] == (1, 0, 150)
    assert fields[1][:2] == (2, 2) and bytes(fields[1][2]) == b"testing"
    with pytest.raises(ValueError, match="malformed"):
        list(iter_fields(memoryview(b"\x12\x09short")))  # 9 bytes announced, 5 present


def test_blob_shapes_and_encodings() -> None:
    values = np.arange(6, dtype=np.float32)
    assert parse_blob(memoryview(blob(values.reshape(2, 3)))).shape == (2, 3)  # shape field
    legacy = parse_blob(memoryview(blob(values[:3], legacy_shape=True)))
    assert legacy.shape == (1, 1, 1, 3) and legacy.ravel().tolist() == [0.0, 1.0, 2.0]
    unpacked = parse_blob(memoryview(blob(values.reshape(3, 2), packed=False)))
    assert unpacked.tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    doubles = int_field(1, 1) + int_field(2, 2) + int_field(3, 1) + int_field(4, 1)
    doubles += len_field(8, np.array([0.5, -2.0], "<f8").tobytes())
    assert parse_blob(memoryview(doubles)).ravel().tolist() == [0.5, -2.0]
    with pytest.raises(ValueError, match=r"shape \(2, 2\) holds 6 values"):
        parse_blob(
            memoryview(len_field(7, len_field(1, b"\x02\x02")) + len_field(5, values.tobytes()))
        )


def test_caffemodel_layers_both_fields(vgg_state) -> None:
    params = caffe_renamed(vgg_state, convs=2)
    for v1 in (False, True):
        layers = read_caffemodel(caffemodel(params, v1=v1), wanted={"conv1_2"})
        assert list(layers) == ["conv1_2"]  # conv1_1 skipped (not wanted), ReLUs have no blobs
        weight, bias = layers["conv1_2"]
        assert np.array_equal(weight, params["conv1_2.weight"].numpy())
        assert np.array_equal(bias, params["conv1_2.bias"].numpy())
    with pytest.raises(ValueError, match="no layer with weights"):
        read_caffemodel(len_field(1, b"empty net"))
    with pytest.raises(ValueError, match="'conv1_1' appears twice"):
        read_caffemodel(caffemodel(params) + layer("conv1_1", [blob(np.zeros(1, np.float32))]))


def test_caffe_normalize_by_hand() -> None:
    rgb = torch.tensor([-1.0, 0.0, 1.0]).view(1, 3, 1, 1)  # R = 0, G = 127.5, B = 255 in 0..255
    bgr = caffe_normalize(rgb).flatten().tolist()
    assert bgr == pytest.approx([255 - 103.939, 127.5 - 116.779, 0 - 123.68])


@pytest.fixture(scope="module")
def full_files(vgg_state, tmp_path_factory) -> dict[str, str]:
    """All 16 convs: torchvision ``.pth`` and the equivalent Caffe ``.caffemodel``."""
    folder = tmp_path_factory.mktemp("vgg-caffe")
    torch.save(vgg_state, folder / "vgg19.pth")
    (folder / "VGG_ILSVRC_19_layers.caffemodel").write_bytes(
        caffemodel(caffe_equivalent(vgg_state), v1=True, legacy_shape=True)
    )
    return {"torchvision": str(folder / "vgg19.pth"),
            "caffe": str(folder / "VGG_ILSVRC_19_layers.caffemodel")}  # fmt: skip


def test_caffe_file_matches_its_torchvision_conversion(full_files) -> None:
    """Same images, same network in both layouts -> the same features at every layer: within
    1% of each map's largest value (Caffe pads its own input with 0, i.e. the mean pixel, while
    torchvision pads with the ImageNet mean: slightly different values on the 1-3 px border)
    and to 1e-5 of it away from the border."""
    tv = VGG19Features.from_file(full_files["torchvision"])
    caffe = VGG19Features.from_file(full_files["caffe"])
    assert (tv.layout, tv.preprocess, caffe.layout, caffe.preprocess) == (
        "torchvision", "torchvision", "caffe", "caffe",
    )  # fmt: skip
    x = images(size=64)
    for name, a, b in zip(tv.layers, features(tv, x), features(caffe, x), strict=True):
        scale = a.abs().max().item()
        assert scale > 0 and (a - b).abs().max().item() <= 1e-2 * scale, name
        if name in SHALLOW:
            inner = (a - b)[..., 4:-4, 4:-4].abs().max().item()
            assert inner <= 1e-5 * scale, (name, inner / scale)


def test_every_caffe_form_gives_the_same_features(vgg_state, tmp_path) -> None:
    """.caffemodel (new and legacy fields), Caffe-named .pth and .npz, and Caffe weights under
    torchvision keys with ``preprocess="caffe"``: bit-identical features."""
    params = caffe_renamed(vgg_state, convs=4)
    files = {
        "new.caffemodel": caffemodel(params),
        "legacy.caffemodel": caffemodel(params, v1=True, legacy_shape=True),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    torch.save(params, tmp_path / "caffe_names.pth")
    save_npz(tmp_path / "caffe_names.npz", params)
    shallow_tv = {k: v for k, v in vgg_state.items() if int(k.split(".")[1]) < 8}
    torch.save(shallow_tv, tmp_path / "tv_keys.pth")
    x = images(1)
    reference = features(VGG19Features.from_file(str(tmp_path / "new.caffemodel"), SHALLOW), x)
    for name in ("legacy.caffemodel", "caffe_names.pth", "caffe_names.npz"):
        vgg = VGG19Features.from_file(str(tmp_path / name), SHALLOW)
        assert vgg.layout == vgg.preprocess == "caffe", name
        assert all(torch.equal(a, b) for a, b in zip(reference, features(vgg, x), strict=True))
    renamed = VGG19Features.from_file(str(tmp_path / "tv_keys.pth"), SHALLOW, preprocess="caffe")
    assert renamed.layout == "torchvision" and renamed.preprocess == "caffe"
    assert all(torch.equal(a, b) for a, b in zip(reference, features(renamed, x), strict=True))


def test_caffe_errors_name_the_file_and_the_key(vgg_state, tmp_path) -> None:
    missing = tmp_path / "models" / "VGG_ILSVRC_19_layers.caffemodel"
    with pytest.raises(FileNotFoundError) as info:
        VGG19Features.from_file(str(missing))
    message = str(info.value)
    assert "\n" not in message and str(missing) in message
    assert "vgg19-dcbb9e9d.pth" in message and "VGG_ILSVRC_19_layers.caffemodel" in message
    params = caffe_renamed(vgg_state, convs=4)
    bad = {**params, "conv1_2.weight": torch.zeros(64, 32, 3, 3)}
    (tmp_path / "shape.caffemodel").write_bytes(caffemodel(bad))
    with pytest.raises(ValueError, match=r"'conv1_2\.weight' has shape \(64, 32, 3, 3\)"):
        VGG19Features.from_file(str(tmp_path / "shape.caffemodel"), SHALLOW)
    no_bias = {k: v for k, v in params.items() if k != "conv2_1.bias"}
    (tmp_path / "bias.caffemodel").write_bytes(caffemodel(no_bias))
    with pytest.raises(ValueError, match=r"missing VGG-19 key 'conv2_1\.bias'"):
        VGG19Features.from_file(str(tmp_path / "bias.caffemodel"), SHALLOW)
    (tmp_path / "garbage.caffemodel").write_bytes(b"\x0f not protobuf")
    with pytest.raises(ValueError, match=r"garbage\.caffemodel: not a readable Caffe"):
        VGG19Features.from_file(str(tmp_path / "garbage.caffemodel"))
    save_npz(tmp_path / "other.npz", {"dense.kernel": torch.zeros(2)})
    with pytest.raises(ValueError, match=r"other\.npz: not VGG-19 weights.*'dense\.kernel'"):
        VGG19Features.from_file(str(tmp_path / "other.npz"))
    with pytest.raises(ValueError, match="preprocess"):
        VGG19Features.from_file(str(tmp_path / "other.npz"), preprocess="bgr")


def test_caffe_weights_train_one_step_with_perceptual_and_style(vgg_state, tmp_path) -> None:
    path = tmp_path / "VGG_ILSVRC_19_layers.caffemodel"
    path.write_bytes(caffemodel(caffe_renamed(vgg_state), v1=True))
    config = load_config(
        str(TINY_CONFIG), [f"root={tmp_path}", f"losses.vgg_weights={path}"], check=False
    )
    vgg = build_vgg_loss(config.losses)
    assert vgg is not None and vgg.vgg.layout == "caffe"
    record = losses_record(config.losses, vgg, adversarial=True)
    assert record["losses_active"] == ["l1", "perceptual", "style", "adversarial", "multiview"]
    assert record["perceptual_style"].startswith("on — VGG-19 (caffe layout")
    torch.manual_seed(0)
    generator = DensePoseTransfer.from_config(config.model_scale)
    step = STEPS["predictive"](
        generator, None, config, DistContext(), vgg, Amp(torch.device("cpu"), False)
    )
    size = config.model_scale.image_size
    iuv = torch.zeros(2, 3, size, size, dtype=torch.uint8)
    iuv[:, 0, 8:-8, 8:-8], iuv[:, 1:, 8:-8, 8:-8] = 3, 128  # part 3 in the middle, mid U/V
    batch = {"source": images(2, size), "target": images(3, size), "source_iuv": iuv,
             "target_iuv": iuv.clone(), "target_mask": torch.ones(2, 1, size, size)}  # fmt: skip
    params = [p for p in generator.predictive.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    losses = step(batch)
    assert losses["perceptual"].item() > 0 and losses["style"].item() > 0
    assert all(math.isfinite(v.item()) for v in losses.values())
    grads = [p.grad for p in params if p.grad is not None]
    assert len(grads) == len(params) and all(torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum().item() for g in grads) > 0
    assert any(not torch.equal(p, b) for p, b in zip(params, before, strict=True))
    assert not any(p.requires_grad for p in vgg.parameters())
