"""The ablation split: held-out identities in held-out poses, nothing shared with training."""

from __future__ import annotations

import pytest

from dpt_core.data.heldout import check_disjoint, held_out_pairs, validation_pairs


def _rows() -> list[dict]:
    names = ["stand", "walk", "sit", "wave"]  # pose names by pose index
    rows = []
    for person, split in (("a", "train"), ("b", "train"), ("c", "test")):
        for index, name in enumerate(names):
            for view in range(2):
                rows.append({"key": f"{person}_p{index}_v{view}", "person_id": person,
                             "split": split, "pose": name, "pose_index": index})  # fmt: skip
    return rows


def test_held_out_pairs_share_no_identity_and_no_target_pose_with_training() -> None:
    rows = _rows()
    pairs = held_out_pairs(rows, poses=("sit", "wave"))
    pose = {r["key"]: r["pose"] for r in rows}
    assert {p["person_id"] for p in pairs["train"]} == {"a", "b"}
    assert {p["person_id"] for p in pairs["test"]} == {"c"}
    train_poses = {pose[p[k]] for p in pairs["train"] for k in ("source_key", "target_key")}
    assert train_poses == {"stand", "walk"}
    assert {pose[p["target_key"]] for p in pairs["test"]} == {"sit", "wave"}
    assert {pose[p["source_key"]] for p in pairs["test"]} == {"stand", "walk"}
    # every ordered pair of a person's 4 training-pose samples: 4·3 per training person
    assert len(pairs["train"]) == 2 * 12 and len(pairs["test"]) == 4 * 4


def test_check_disjoint_refuses_a_leak() -> None:
    rows = _rows()
    pairs = held_out_pairs(rows, ("sit", "wave"))
    leaked = {"train": [*pairs["train"], {"source_key": "a_p0_v0", "target_key": "a_p3_v0",
                                          "person_id": "a"}], "test": pairs["test"]}  # fmt: skip
    with pytest.raises(ValueError, match="test target poses seen in training"):
        check_disjoint(rows, leaked)
    shared = {"train": pairs["train"], "test": [*pairs["test"], pairs["train"][0]]}
    with pytest.raises(ValueError, match="identities in both splits"):
        check_disjoint(rows, shared)


def test_validation_pairs_hold_out_identities_and_poses_inside_training() -> None:
    rows = _rows()
    pairs = validation_pairs(rows, poses=("sit", "wave"), every=2, validation_poses=("walk",))
    pose = {r["key"]: r["pose"] for r in rows}
    assert {p["person_id"] for p in pairs["train"]} == {"b"}
    assert {p["person_id"] for p in pairs["test"]} == {"a"}
    # training never sees the validation pose; validation targets are only in it
    assert {pose[p[k]] for p in pairs["train"] for k in ("source_key", "target_key")} == {"stand"}
    assert {pose[p["target_key"]] for p in pairs["test"]} == {"walk"}
    assert {pose[p["source_key"]] for p in pairs["test"]} == {"stand"}
    assert len(pairs["train"]) == 2 and len(pairs["test"]) == 4
    check_disjoint(rows, pairs)
    with pytest.raises(ValueError, match="empty split"):
        validation_pairs(rows, poses=("sit", "wave"), every=1, validation_poses=("walk",))
    with pytest.raises(ValueError, match="overlap the test poses"):
        validation_pairs(rows, poses=("sit", "wave"), validation_poses=("wave",))


def test_default_validation_poses_are_training_poses() -> None:
    from dpt_core.data.heldout import HELD_OUT_POSES, VALIDATION_POSES
    from dpt_core.studio.poses import POSE_LIBRARY

    assert set(VALIDATION_POSES) <= set(POSE_LIBRARY)
    assert not set(VALIDATION_POSES) & set(HELD_OUT_POSES)


def test_validation_scores_the_people_it_is_given() -> None:
    """``scored`` fixes the validation people, so a run with more training people is scored on
    the same ones; a scored person outside training is refused."""
    rows = _rows()
    pairs = validation_pairs(rows, poses=("sit", "wave"), validation_poses=("walk",), scored=["b"])
    assert {p["person_id"] for p in pairs["test"]} == {"b"}
    assert {p["person_id"] for p in pairs["train"]} == {"a"}
    with pytest.raises(ValueError, match="scored people not in training"):
        validation_pairs(rows, poses=("sit", "wave"), validation_poses=("walk",), scored=["c"])


def test_extra_studio_people_only_train(monkeypatch) -> None:
    """``ablation.py --extra-identities``: a 50-person studio keeps the test people of the
    40-person one (ids 32-39); ids 40-49 train."""
    import importlib
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    fixed_split = importlib.import_module("ablation").fixed_split
    rows = [{"key": f"k{i}", "identity": i, "split": "test" if i >= 40 else "train"}
            for i in range(50)]  # fmt: skip
    split = {r["identity"]: r["split"] for r in fixed_split(rows, 40)}
    assert [i for i, s in split.items() if s == "test"] == list(range(32, 40))
