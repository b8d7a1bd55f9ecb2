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
