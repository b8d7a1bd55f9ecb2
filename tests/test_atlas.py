"""Atlas layout, scatter/gather (numpy and torch) against hand-computed texels and the notebook."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dpt_core import atlas

N = 200


def _iuv(pixels: list[tuple[int, int, int]]) -> np.ndarray:
    """A 1-row IUV image from (I, U, V) triples."""
    return np.array([pixels], dtype=np.uint8)


def _random_iuv(rng: np.random.Generator, h: int, w: int, background: float = 0.3) -> np.ndarray:
    iuv_hw3 = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    iuv_hw3[..., 0] = rng.integers(1, 25, (h, w))
    iuv_hw3[rng.random((h, w)) < background] = 0
    return iuv_hw3


def notebook_gather(atlas_hwc: np.ndarray, iuv_hw3: np.ndarray, n: int) -> np.ndarray:
    """DensePose texture-transfer notebook style: cut 24 tiles, loop parts, np.where, index."""
    tiles = np.zeros((24, n, n, atlas_hwc.shape[2]), atlas_hwc.dtype)
    for i in range(4):
        for j in range(6):
            tiles[6 * i + j] = atlas_hwc[n * j : n * j + n, n * i : n * i + n]
    u_img, v_img = iuv_hw3[:, :, 1], iuv_hw3[:, :, 2]
    out = np.zeros((*iuv_hw3.shape[:2], atlas_hwc.shape[2]), atlas_hwc.dtype)
    for part in range(1, 25):
        x, y = np.where(iuv_hw3[:, :, 0] == part)
        u, v = u_img[x, y], v_img[x, y]
        out[x, y] = tiles[part - 1][
            ((255 - v) * (n - 1.0) / 255.0).astype(int), (u * (n - 1.0) / 255.0).astype(int)
        ]
    return out


def test_layout_hand_values() -> None:
    assert atlas.atlas_shape(N) == (1200, 800)
    assert atlas.tile_origin(1, N) == (0, 0)
    assert atlas.tile_origin(6, N) == (1000, 0)
    assert atlas.tile_origin(7, N) == (0, 200)
    assert atlas.tile_origin(13, N) == (0, 400)
    assert atlas.tile_origin(24, N) == (1000, 600)
    for bad in (0, 25, 1.5):
        with pytest.raises(ValueError, match="part"):
            atlas.tile_origin(bad, N)
    with pytest.raises(ValueError, match="n: expected"):
        atlas.atlas_shape(0)


def test_texel_index_hand_values() -> None:
    iuv_hw3 = _iuv([(7, 255, 0), (2, 128, 128), (0, 9, 9), (24, 0, 255), (3, 1, 254)])
    rows, cols = atlas.texel_index(iuv_hw3, N)
    # part 7: tile (0, 200), texel (floor(255*199/255), floor(255*199/255)) = (199, 199)
    # part 2: tile (200, 0), texel (floor(127*199/255), floor(128*199/255)) = (99, 99)
    # part 3: tile (400, 0), texel (floor(1*199/255), floor(1*199/255)) = (0, 0)
    assert rows.tolist() == [[199, 299, -1, 1000, 400]]
    assert cols.tolist() == [[399, 99, -1, 600, 0]]


def test_gather_and_scatter_hand_values() -> None:
    iuv_hw3 = _iuv([(7, 255, 0), (2, 128, 128), (0, 9, 9), (2, 128, 128), (24, 0, 255)])
    image = np.array([[[10, 0, 1], [20, 5, 5], [99, 99, 99], [31, 6, 5], [7, 7, 7]]], np.uint8)
    tex, vis = atlas.scatter(image, iuv_hw3, N)
    assert tex.dtype == np.uint8 and tex.shape == (1200, 800, 3) and vis.dtype == bool
    assert np.argwhere(vis).tolist() == [[199, 399], [299, 99], [1000, 600]]
    assert tex[199, 399].tolist() == [10, 0, 1]
    assert tex[299, 99].tolist() == [26, 6, 5]  # mean of (20,5,5),(31,6,5) = (25.5, 5.5, 5) -> even
    assert tex.sum() == 10 + 1 + 26 + 6 + 5 + 21
    tex_float, _ = atlas.scatter(image.astype(np.float32), iuv_hw3, N)
    assert tex_float[299, 99].tolist() == [25.5, 5.5, 5.0]
    out = atlas.gather(tex, iuv_hw3)
    assert out.tolist() == [[[10, 0, 1], [26, 6, 5], [0, 0, 0], [26, 6, 5], [7, 7, 7]]]


def test_single_channel_atlas_and_image() -> None:
    iuv_hw3 = _iuv([(5, 10, 20), (0, 0, 0)])
    tex, vis = atlas.scatter(np.array([[3.0, 4.0]]), iuv_hw3, 8)
    assert tex.shape == (48, 32) and vis.sum() == 1
    assert atlas.gather(tex, iuv_hw3).tolist() == [[3.0, 0.0]]


@pytest.mark.parametrize("n", [200, 37, 2])
def test_gather_matches_notebook_loop_exactly(n: int) -> None:
    rng = np.random.default_rng(n)
    iuv_hw3 = _random_iuv(rng, 64, 48)
    iuv_hw3[0, :3] = [[1, 0, 0], [24, 255, 255], [13, 255, 0]]  # extreme corners
    tex = rng.integers(0, 256, (*atlas.atlas_shape(n), 3), dtype=np.uint8)
    np.testing.assert_array_equal(atlas.gather(tex, iuv_hw3), notebook_gather(tex, iuv_hw3, n))


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 12),
    float_image=st.booleans(),
)
def test_gather_of_scatter_reproduces_unshared_pixels(seed: int, n: int, float_image) -> None:
    rng = np.random.default_rng(seed)
    iuv_hw3 = _random_iuv(rng, 9, 11)
    image = rng.integers(0, 256, (9, 11, 3)).astype(np.float32 if float_image else np.uint8)
    tex, vis = atlas.scatter(image, iuv_hw3, n)
    out = atlas.gather(tex, iuv_hw3)
    rows, cols = atlas.texel_index(iuv_hw3, n)
    keys = rows * 10_000 + cols
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    alone = (counts[inverse.reshape(keys.shape)] == 1) & (rows >= 0)
    np.testing.assert_array_equal(out[alone], image[alone])
    assert not out[rows < 0].any()
    assert vis.sum() == len(np.unique(keys[rows >= 0]))


def test_bad_inputs_raise_clear_errors() -> None:
    iuv_hw3 = _iuv([(1, 0, 0)])
    with pytest.raises(ValueError, match="mode"):
        atlas.gather(np.zeros((12, 8, 3)), iuv_hw3, mode="cubic")
    with pytest.raises(ValueError, match=r"atlas_hwc: atlas must be \(6n, 4n\)"):
        atlas.gather(np.zeros((12, 9, 3)), iuv_hw3)
    with pytest.raises(ValueError, match="iuv_hw3: part id 25"):
        atlas.scatter(np.zeros((1, 1, 3)), _iuv([(25, 0, 0)]), 4)
    with pytest.raises(ValueError, match="sizes differ"):
        atlas.scatter(np.zeros((2, 1, 3)), iuv_hw3, 4)
    with pytest.raises(ValueError, match="image_hw3"):
        atlas.scatter(np.zeros((1, 1, 3), bool), iuv_hw3, 4)


def _to_torch(iuv_hw3: np.ndarray, dtype: torch.dtype = torch.uint8) -> torch.Tensor:
    return torch.from_numpy(iuv_hw3).permute(2, 0, 1)[None].to(dtype)


@pytest.mark.parametrize("iuv_dtype", [torch.uint8, torch.int64, torch.float32])
def test_torch_matches_numpy(iuv_dtype: torch.dtype) -> None:
    rng = np.random.default_rng(3)
    n = 16
    iuvs = [_random_iuv(rng, 20, 24) for _ in range(3)]
    images = [rng.integers(0, 256, (20, 24, 3), dtype=np.uint8) for _ in range(3)]
    iuv_b3hw = torch.cat([_to_torch(i, iuv_dtype) for i in iuvs])
    images_bchw = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
    tex_t, vis_t = atlas.scatter_torch(images_bchw, iuv_b3hw, n)
    assert tex_t.shape == (3, 3, 96, 64) and vis_t.shape == (3, 1, 96, 64)
    for k in range(3):
        tex, vis = atlas.scatter(images[k], iuvs[k], n)
        np.testing.assert_array_equal(vis_t[k, 0].numpy(), vis.astype(np.float32))
        np.testing.assert_array_equal(tex_t[k].round().to(torch.uint8).permute(1, 2, 0), tex)
        tex_float, _ = atlas.scatter(images[k].astype(np.float32), iuvs[k], n)
        np.testing.assert_allclose(tex_t[k].permute(1, 2, 0).numpy(), tex_float, rtol=1e-6)
    out_t = atlas.gather_torch(tex_t.round().to(torch.uint8), iuv_b3hw)
    assert out_t.dtype == torch.uint8
    for k in range(3):
        tex, _ = atlas.scatter(images[k], iuvs[k], n)
        expected = atlas.gather(tex, iuvs[k])
        np.testing.assert_array_equal(out_t[k].permute(1, 2, 0).numpy(), expected)


def test_torch_gather_broadcasts_one_atlas() -> None:
    rng = np.random.default_rng(4)
    tex = rng.random((24, 16, 2)).astype(np.float32)
    iuvs = [_random_iuv(rng, 5, 6) for _ in range(2)]
    out = atlas.gather_torch(
        torch.from_numpy(tex).permute(2, 0, 1)[None], torch.cat([_to_torch(i) for i in iuvs])
    )
    for k in range(2):
        np.testing.assert_array_equal(out[k].permute(1, 2, 0).numpy(), atlas.gather(tex, iuvs[k]))


def _tile_constant_atlas(n: int) -> np.ndarray:
    """Each part's tile filled with its part id (float32, one channel)."""
    tex = np.zeros(atlas.atlas_shape(n), np.float32)
    for part in range(1, 25):
        row0, col0 = atlas.tile_origin(part, n)
        tex[row0 : row0 + n, col0 : col0 + n] = part
    return tex


@pytest.mark.parametrize("n", [10, 200])
def test_bilinear_never_bleeds_into_neighbour_tiles(n: int) -> None:
    rng = np.random.default_rng(7)
    parts = np.repeat(np.arange(1, 25), 6)
    corners = np.tile([[0, 0], [0, 255], [255, 0], [255, 255]], (24, 1, 1))
    uv = np.concatenate([corners, rng.integers(0, 256, (24, 2, 2))], axis=1).reshape(-1, 2)
    iuv_hw3 = np.concatenate([parts[:, None], uv], axis=-1)[None].astype(np.uint8)
    tex = _tile_constant_atlas(n)
    out = atlas.gather_torch(torch.from_numpy(tex)[None, None], _to_torch(iuv_hw3), "bilinear")
    # float32 weights sum to 1 within ~1e-7; reading a neighbour tile or a zero border would cost
    # at least the ~1e-5 of a texel that float32 grid coordinates are off at the tile edges
    np.testing.assert_allclose(out[0, 0, 0].numpy(), parts, rtol=1e-6)
    np.testing.assert_allclose(atlas.gather(tex, iuv_hw3, "bilinear")[0], parts, rtol=1e-6)


def test_bilinear_hand_values_on_a_ramp() -> None:
    n = 11  # x = U/255*10 - shift: U=51 -> 2.0 - s, U=127.5 -> 5.0 - s; a ramp atlas returns x
    shift = 0.5 - 10 / 510
    assert atlas.bilinear_offset(n) == pytest.approx(shift)
    tex = np.tile(np.arange(n, dtype=np.float32), (6 * n, 4))
    iuv_b3hw = torch.tensor([[[[9, 9, 0]], [[51, 127.5, 255]], [[0, 0, 0]]]], dtype=torch.float32)
    out = atlas.gather_torch(torch.from_numpy(tex)[None, None], iuv_b3hw, "bilinear")
    np.testing.assert_allclose(out[0, 0, 0].numpy(), [2.0 - shift, 5.0 - shift, 0.0], atol=1e-4)
    at_u100 = atlas.gather(tex, _iuv([(4, 100, 7)]), "bilinear")
    np.testing.assert_allclose(at_u100, [[100 / 255 * 10 - shift]], rtol=1e-6)


def test_bilinear_gather_of_scatter_has_no_half_texel_bias() -> None:
    # Every (U, V) of one part, coloured by V, scattered at a coarse n and read back bilinearly:
    # floor-indexed scatter centres texel r at r + 0.5 - (n-1)/510, so an unshifted bilinear read
    # is biased by about half a texel (-7.5 levels at n = 16); the shifted read is not.
    n = 16
    v, u = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    iuv_hw3 = np.stack([np.full_like(u, 5), u, v], -1).astype(np.uint8)
    image = np.repeat(v[..., None].astype(np.float64), 3, axis=2)
    tex, visible = atlas.scatter(image, iuv_hw3, n)
    assert visible.sum() == n * n
    back = atlas.gather(tex, iuv_hw3, "bilinear")[..., 0]
    inner = (slice(24, 232), slice(24, 232))  # away from the clamped ends of the chart
    assert abs(float(np.mean(back[inner] - v[inner]))) < 0.5


def test_bilinear_torch_matches_numpy_and_nearest_on_grid() -> None:
    rng = np.random.default_rng(5)
    iuv_hw3 = _random_iuv(rng, 30, 20)
    tex = rng.random((*atlas.atlas_shape(256), 3))  # n=256: every IUV value is a texel centre
    tex_t = torch.from_numpy(tex).permute(2, 0, 1)[None]
    bilinear = atlas.gather_torch(tex_t, _to_torch(iuv_hw3), "bilinear")[0].permute(1, 2, 0)
    nearest = atlas.gather(tex, iuv_hw3)
    np.testing.assert_allclose(bilinear.numpy(), nearest, atol=1e-9)
    tex37 = rng.random((*atlas.atlas_shape(37), 3)).astype(np.float32)
    tex37_t = torch.from_numpy(tex37).permute(2, 0, 1)[None]
    bilinear37 = atlas.gather_torch(tex37_t, _to_torch(iuv_hw3), "bilinear")[0].permute(1, 2, 0)
    np.testing.assert_allclose(
        bilinear37.numpy(), atlas.gather(tex37, iuv_hw3, "bilinear"), rtol=1e-4, atol=1e-5
    )


def test_bilinear_gradient_reaches_only_seen_tiles() -> None:
    n = 8
    iuv_hw3 = _iuv([(3, 40, 200), (3, 255, 0), (17, 100, 100), (0, 5, 5)])
    tex = torch.rand(1, 2, 6 * n, 4 * n, requires_grad=True)
    atlas.gather_torch(tex, _to_torch(iuv_hw3), "bilinear").sum().backward()
    grad = tex.grad[0, 0]
    assert torch.allclose(tex.grad.sum(), torch.tensor(2 * 3.0))  # weights sum to 1 per pixel
    seen = torch.zeros_like(grad, dtype=torch.bool)
    for part in (3, 17):
        row0, col0 = atlas.tile_origin(part, n)
        seen[row0 : row0 + n, col0 : col0 + n] = True
    assert grad[seen].sum() > 0 and not grad[~seen].any()
    corner = (1 - atlas.bilinear_offset(n)) ** 2  # (3, U=255, V=0): shifted inwards in x and y
    assert torch.isclose(grad[2 * n + n - 1, n - 1], torch.tensor(corner))


def test_scatter_torch_returns_detached_tensors() -> None:
    images = torch.rand(1, 3, 2, 2, requires_grad=True)
    tex, vis = atlas.scatter_torch(images, torch.full((1, 3, 2, 2), 5, dtype=torch.uint8), 4)
    assert not tex.requires_grad and not vis.requires_grad
    # part 5 tile at row 16; V=5 -> row 16 + floor(250*3/255) = 18; U=5 -> col floor(15/255) = 0
    assert torch.allclose(tex[0, :, 18, 0], images.detach().mean(dim=(2, 3))[0])
    assert vis.sum() == 1


def test_torch_bad_inputs() -> None:
    tex = torch.zeros(1, 3, 24, 16)
    good = torch.zeros(1, 3, 2, 2)
    for bad, message in [
        (torch.full((1, 3, 2, 2), 25.0), "out of range"),
        (torch.full((1, 3, 2, 2), -1), "out of range"),
        (torch.tensor([[[[1]], [[256]], [[0]]]]), "out of range"),
        (torch.zeros(1, 2, 2, 2), r"\(B, 3, H, W\)"),
    ]:
        with pytest.raises(ValueError, match=message):
            atlas.gather_torch(tex, bad)
    with pytest.raises(ValueError, match="atlas_bchw"):
        atlas.gather_torch(torch.zeros(1, 3, 24, 15), good)
    with pytest.raises(ValueError, match="batch"):
        atlas.gather_torch(torch.zeros(2, 3, 24, 16), torch.zeros(3, 3, 2, 2))
    with pytest.raises(ValueError, match="differ"):
        atlas.scatter_torch(torch.zeros(1, 3, 2, 3), good, 4)
    with pytest.raises(ValueError, match="mode"):
        atlas.gather_torch(tex, good, mode="area")


def test_all_background_gives_empty_atlas_and_black_image() -> None:
    iuv_hw3 = np.zeros((3, 4, 3), np.uint8)
    iuv_hw3[..., 1:] = 200  # U/V on background are ignored
    tex, vis = atlas.scatter(np.full((3, 4, 3), 9, np.uint8), iuv_hw3, 5)
    assert not tex.any() and not vis.any()
    assert not atlas.gather(np.full((30, 20, 3), 7, np.uint8), iuv_hw3).any()
    tex_t, vis_t = atlas.scatter_torch(
        torch.full((2, 3, 3, 4), 9.0), _to_torch(iuv_hw3).repeat(2, 1, 1, 1), 5
    )
    assert not tex_t.any() and not vis_t.any()
    for mode in ("nearest", "bilinear"):
        assert not atlas.gather_torch(
            torch.full((1, 3, 30, 20), 7.0), _to_torch(iuv_hw3), mode
        ).any()


def test_float_iuv_tensors_round_to_the_nearest_level() -> None:
    # n = 200; I: 0.4 -> 0 (background), 1.4 -> 1; U: 127.6 -> 128 -> col floor(128*199/255) = 99;
    # V: 0.4 -> 0 -> row floor(255*199/255) = 199
    tex = torch.zeros(1, 1, 1200, 800)
    tex[0, 0, 199, 99] = 5.0
    iuv_b3hw = torch.tensor([[[[0.4, 1.4]], [[127.6, 127.6]], [[0.4, 0.4]]]])
    assert atlas.gather_torch(tex, iuv_b3hw).tolist() == [[[[0.0, 5.0]]]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    rng = np.random.default_rng(6)
    iuv_b3hw = torch.cat([_to_torch(_random_iuv(rng, 64, 64)) for _ in range(4)])
    images = torch.from_numpy(rng.integers(0, 256, (4, 3, 64, 64), dtype=np.uint8))
    tex_cpu, vis_cpu = atlas.scatter_torch(images, iuv_b3hw, 32)
    tex_gpu, vis_gpu = atlas.scatter_torch(images.cuda(), iuv_b3hw.cuda(), 32)
    torch.testing.assert_close(tex_gpu.cpu(), tex_cpu)
    torch.testing.assert_close(vis_gpu.cpu(), vis_cpu)
    for mode in ("nearest", "bilinear"):
        out_cpu = atlas.gather_torch(tex_cpu, iuv_b3hw, mode)
        out_gpu = atlas.gather_torch(tex_gpu, iuv_b3hw.cuda(), mode)
        torch.testing.assert_close(out_gpu.cpu(), out_cpu, atol=1e-3, rtol=1e-5)
