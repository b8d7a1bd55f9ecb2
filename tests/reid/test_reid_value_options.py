"""The re-id value benchmark's training options for added images (issue #18): how many added
(generated / oracle) images per person are used, their loss weight, and the pose bank choice."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("_reid_train"), importlib.import_module("reid_value")


def _item(name: str, pid: int) -> tuple:
    return (f"/t/market1501/bounding_box_train/{name}", pid, 0, 0)


ITEMS = [
    _item("0001_c1s1_000000_01.jpg", 0),
    _item("0001_c2s9_000002_00.jpg", 0),  # generated, j = 2
    _item("0001_c1s9_000000_00.jpg", 0),  # generated, j = 0
    _item("0001_c3s9_000001_00.jpg", 0),  # generated, j = 1
    _item("0002_c1s8_000301_01.jpg", 1),  # oracle, first new pose
    _item("0002_c2s8_000402_01.jpg", 1),  # oracle, second new pose
    _item("0002_c2s1_000101_01.jpg", 1),
]


def test_added_images_are_every_sequence_but_the_originals(bench):
    train, _ = bench
    assert [train.is_added(item) for item in ITEMS] == [False, True, True, True, True, True, False]


def test_select_added_keeps_the_first_k_per_person_and_every_original(bench):
    train, _ = bench
    names = [item[0].rsplit("/", 1)[-1] for item in train.select_added(ITEMS, 1)]
    assert names == ["0001_c1s1_000000_01.jpg", "0001_c1s9_000000_00.jpg",
                     "0002_c1s8_000301_01.jpg", "0002_c2s1_000101_01.jpg"]  # fmt: skip
    assert len(train.select_added(ITEMS, 2)) == 2 + 2 + 2
    assert train.select_added(ITEMS, None) == ITEMS
    assert [train.is_added(i) for i in train.select_added(ITEMS, 0)] == [False, False]


def test_sample_weights_weigh_only_added_images(bench):
    train, _ = bench
    weights = train.sample_weights(ITEMS, 0.3)
    assert weights.tolist() == pytest.approx([1, 0.3, 0.3, 0.3, 0.3, 0.3, 1])


def test_weighted_loss_with_equal_weights_is_label_smoothed_cross_entropy(bench):
    train, _ = bench
    logits, labels = (
        torch.randn(6, 5, generator=torch.Generator().manual_seed(0)),
        torch.arange(6) % 5,
    )
    log_p = torch.log_softmax(logits, 1)
    expected = (-(0.9 * log_p[torch.arange(6), labels]) - 0.1 / 5 * log_p.sum(1)).mean()
    got = train.weighted_smoothed_ce(logits, labels, torch.ones(6))
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


def test_weighted_loss_is_the_weighted_mean_of_per_image_losses(bench):
    """An image with weight 0 does not count; weights 1 and 0.5 on two images give (l0 + l1 / 2)
    / 1.5."""
    train, _ = bench
    logits, labels = torch.tensor([[2.0, 0.0], [0.0, 0.0], [5.0, -5.0]]), torch.tensor([0, 1, 1])
    each = [train.weighted_smoothed_ce(logits[i : i + 1], labels[i : i + 1], torch.ones(1))
            for i in range(3)]  # fmt: skip
    got = train.weighted_smoothed_ce(logits, labels, torch.tensor([1.0, 0.5, 0.0]))
    assert got.item() == pytest.approx(((each[0] + each[1] / 2) / 1.5).item())


def test_weighted_loss_matches_torchreid_when_installed(bench):
    losses = pytest.importorskip("torchreid.reid.losses")
    train, _ = bench
    logits, labels = (
        torch.randn(8, 4, generator=torch.Generator().manual_seed(1)),
        torch.arange(8) % 4,
    )
    expected = losses.CrossEntropyLoss(4, use_gpu=False, label_smooth=True)(logits, labels)
    assert train.weighted_smoothed_ce(logits, labels, torch.ones(8)).item() == pytest.approx(
        expected.item(), rel=1e-6
    )


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5])
def test_recipe_refuses_an_added_weight_outside_0_1(bench, bad):
    train, _ = bench
    with pytest.raises(ValueError, match="added_weight"):
        train.TrainRecipe(added_weight=bad)


def test_benchmark_options_reach_the_recipe_and_the_pose_bank(bench, tmp_path):
    _, value = bench
    args = value.parse_args(["--added-per-identity", "2", "--added-weight", "0.3",
                             "--pose-bank", "train"])  # fmt: skip
    assert (args.added_per_identity, args.added_weight, args.pose_bank) == (2, 0.3, "train")
    dst = str(tmp_path / "arms/augmented/market1501")
    assert (
        value.pose_bank(args, None, tmp_path, dst)
        == f"{dst}/_work/densepose/market1501/precomputed"
    )
    with pytest.raises(SystemExit):
        value.parse_args(["--pose-bank", "mine"])
    with pytest.raises(SystemExit):
        value.parse_args(["--train-only"])  # needs --work


def test_train_only_refuses_a_work_folder_without_trees(bench, tmp_path):
    _, value = bench
    with pytest.raises(FileNotFoundError, match="original"):
        value.existing_arms(tmp_path)


def test_a_named_generator_gives_its_studio_seed(bench, tmp_path):
    _, value = bench
    run, studio = tmp_path / "runs/r", tmp_path / "studio"
    with pytest.raises(FileNotFoundError, match="checkpoints/latest"):
        value.named_generator(str(run), str(studio))
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints/latest").write_text("step-000001.pt")
    with pytest.raises(FileNotFoundError, match=r"studio\.json"):
        value.named_generator(str(run), str(studio))
    studio.mkdir()
    (studio / "studio.json").write_text('{"seed": 7}')
    assert value.named_generator(str(run), str(studio)) == (str(run), 7)
    with pytest.raises(SystemExit):
        value.parse_args(["--generator", str(run)])  # needs --generator-studio
    with pytest.raises(SystemExit):
        value.parse_args(["--generator-studio", str(studio)])  # only with a run folder
    assert value.parse_args([]).generator == "ablation"
    assert value.parse_args(["--quick"]).generator == "demo"


@pytest.fixture
def crops(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("reid_crops")


def test_body_fractions_place_a_box_in_its_crop(crops):
    # crop 40 wide, 80 high from (10, 20); body from y 28 to 92 (top 0.1, bottom 0.9), x 20..40
    assert crops.body_fractions((20, 28, 40, 92), (10, 20, 50, 100)) == pytest.approx(
        [0.1, 0.9, 0.8, 0.5]
    )


def test_separability_is_chance_for_one_distribution_and_high_for_two(crops):
    rng = np.random.default_rng(0)
    real, pid_real = rng.normal(size=(300, 3)), np.arange(300) % 20
    same, pid_added = rng.normal(size=(100, 3)), np.arange(100) % 20
    shifted = same + np.array([4.0, 0.0, 0.0])
    assert 35 <= crops.separability(real, same, pid_real, pid_added) <= 65
    assert crops.separability(real, shifted, pid_real, pid_added) >= 95
