"""Official key names, and weights in the official .pth / .pkl formats loading strictly."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model

from dpt_core.densepose.config import load_config
from dpt_core.densepose.roi_heads import register_densepose
from dpt_core.densepose.weights import load_weights, read_checkpoint, save_weights

HEAD = "roi_heads.densepose_head"
PRED = "roi_heads.densepose_predictor"


def _densepose_shapes(state: dict) -> dict[str, tuple[int, ...]]:
    return {
        k: tuple(v.shape)
        for k, v in state.items()
        if k.startswith(("roi_heads.densepose", "roi_heads.decoder"))
    }


def _expected_head(in_channels: int, n_coarse: int) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for i in range(1, 9):
        shapes[f"{HEAD}.body_conv_fcn{i}.weight"] = (512, in_channels if i == 1 else 512, 3, 3)
        shapes[f"{HEAD}.body_conv_fcn{i}.bias"] = (512,)
    for name, out in (("ann_index_lowres", n_coarse), ("index_uv_lowres", 25)):
        shapes[f"{PRED}.{name}.weight"], shapes[f"{PRED}.{name}.bias"] = (512, out, 4, 4), (out,)
    for name in ("u_lowres", "v_lowres"):
        shapes[f"{PRED}.{name}.weight"], shapes[f"{PRED}.{name}.bias"] = (512, 25, 4, 4), (25,)
    return shapes


def test_official_key_names_s1x(r50_model):
    expected = _expected_head(256, 2)
    # Panoptic-FPN decoder: p2/p3 one conv, p4 two, p5 three (upsampling between), 1x1 predictor.
    for level, indices in (("p2", [0]), ("p3", [0]), ("p4", [0, 2]), ("p5", [0, 2, 4])):
        for j in indices:  # FPN levels and decoder convs all have 256 channels
            expected[f"roi_heads.decoder.{level}.{j}.weight"] = (256, 256, 3, 3)
            expected[f"roi_heads.decoder.{level}.{j}.bias"] = (256,)
    expected["roi_heads.decoder.predictor.weight"] = (256, 256, 1, 1)
    expected["roi_heads.decoder.predictor.bias"] = (256,)
    assert _densepose_shapes(r50_model.model.state_dict()) == expected


def test_official_key_names_legacy():
    register_densepose()
    model = build_model(load_config("densepose_rcnn_R_50_FPN_s1x_legacy"))
    assert _densepose_shapes(model.state_dict()) == _expected_head(256, 15)


def test_pth_round_trip_loads_every_key(r50_weights, r50_model):
    state, sha256 = read_checkpoint(r50_weights)
    model_state = r50_model.model.state_dict()
    assert set(state) == set(model_state) and len(sha256) == 64
    assert r50_model.weights.n_tensors == len(state) and r50_model.weights.sha256 == sha256
    for key, value in state.items():
        assert torch.equal(model_state[key], value), key


def test_pkl_needs_trust_then_loads_exactly(tmp_path, r50_model):
    url = str(tmp_path / "model_final.pkl")
    save_weights(r50_model.model, url, "pkl")
    with pytest.raises(ValueError, match="allow_pickle=True"):
        read_checkpoint(url)
    raw = pickle.loads((tmp_path / "model_final.pkl").read_bytes())
    assert set(raw) == {"model", "__author__"}
    assert all(isinstance(v, np.ndarray) for v in raw["model"].values())
    conv = r50_model.model.roi_heads.densepose_head.body_conv_fcn3
    original = conv.weight.detach().clone()
    with torch.no_grad():
        conv.weight.zero_()
    info = load_weights(r50_model.model, url, allow_pickle=True)
    assert torch.equal(conv.weight, original)
    assert info.n_tensors == len(r50_model.model.state_dict())


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickle_with_code_is_refused_even_when_trusted(tmp_path, r50_model):
    url = tmp_path / "evil.pkl"
    url.write_bytes(pickle.dumps({"model": {"x": _Exploit()}, "__author__": "x"}))
    with pytest.raises(ValueError, match="refusing to unpickle"):
        load_weights(r50_model.model, str(url), allow_pickle=True)


def test_missing_file_is_one_clear_line(r50_model):
    with pytest.raises(FileNotFoundError) as info:
        load_weights(r50_model.model, "/nonexistent/densepose.pth")
    assert str(info.value) == "DensePose weights not found: /nonexistent/densepose.pth"


def test_mismatched_checkpoint_lists_missing_and_unexpected(tmp_path, r50_model):
    url = tmp_path / "other.pth"
    torch.save({"model": {"backbone.not_a_layer.weight": torch.zeros(3)}}, url)
    with pytest.raises(ValueError) as info:
        load_weights(r50_model.model, str(url))
    message = str(info.value)
    assert "does not fit the model: missing keys" in message
    assert "backbone.fpn_lateral2.weight" in message
    assert "unexpected keys 1 (e.g. backbone.not_a_layer.weight)" in message


def test_torch_files_are_loaded_weights_only(tmp_path, r50_model):
    url = tmp_path / "objects.pth"
    buffer = io.BytesIO()
    torch.save({"model": {"a": torch.zeros(1)}, "extra": _Exploit()}, buffer)
    url.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        read_checkpoint(str(url))
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"garbage\.pth"):
        read_checkpoint(str(tmp_path / "garbage.pth"))
