"""Benchmark pairs with nothing in common between training and test: held-out identities
transferred into held-out poses.

Test pairs: a test identity's sample in a training pose as the source, its sample in a held-out
pose as the target. Training pairs: training identities, both samples in training poses; no
training sample in a held-out pose is used. The held-out pose names are fixed
(``HELD_OUT_POSES``, four of the studio's 17 named poses) before any training.

Choices (loss weights, step counts, architecture switches) are made on ``validation_pairs``,
the same question asked inside the training part: every ``every``-th training identity held out
of training and rendered into four training poses (``VALIDATION_POSES``) that the other
training identities then train without, so neither a test identity nor a held-out pose takes
part in any choice, and a choice that only fits the poses it was trained on shows up there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from dpt_core.data.pairs import person_pairs

HELD_OUT_POSES = ("arms_raised", "crouching", "looking_back", "walking")
# one of each kind again (arms, deep legs, torso, locomotion), all training poses
VALIDATION_POSES = ("bending", "kneeling", "running", "waving")
VALIDATION_EVERY = 4  # every 4th training identity (sorted) is scored on validation


def held_out_pairs(
    rows: list[dict], poses: Collection[str] = HELD_OUT_POSES
) -> dict[str, list[dict]]:
    """``{"train": [...], "test": [...]}`` pair rows (source_key, target_key, person_id) from
    sample rows (key, person_id, split, pose), holding out the pose names ``poses``; ValueError
    when a split is empty. Every pair of a person is used (``person_pairs``)."""
    held = set(poses)
    persons: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        persons[(r["split"], r["person_id"])].append(r)
    out: dict[str, list[dict]] = {"train": [], "test": []}
    for (split, person), samples in sorted(persons.items()):
        keys = sorted(r["key"] for r in samples)
        pose = {r["key"]: r["pose"] for r in samples}
        src, tgt = person_pairs(keys, None, person)
        for s, t in zip(src, tgt, strict=True):
            seen_s, seen_t = pose[keys[s]] not in held, pose[keys[t]] not in held
            if (split == "train" and seen_s and seen_t) or (
                split == "test" and seen_s and not seen_t
            ):
                out[split].append(
                    {"source_key": keys[s], "target_key": keys[t], "person_id": person}
                )
    if not out["train"] or not out["test"]:
        raise ValueError(f"held-out split: empty split ({ {k: len(v) for k, v in out.items()} })")
    check_disjoint(rows, out)
    return out


def check_disjoint(rows: list[dict], pairs: dict[str, list[dict]]) -> None:
    """ValueError unless train and test pairs share no identity and no test target pose was
    seen in training (as source or target)."""
    pose = {r["key"]: r["pose"] for r in rows}
    ids = {s: {p["person_id"] for p in pairs[s]} for s in ("train", "test")}
    if ids["train"] & ids["test"]:
        raise ValueError(f"identities in both splits: {sorted(ids['train'] & ids['test'])}")
    train_poses = {pose[p[k]] for p in pairs["train"] for k in ("source_key", "target_key")}
    test_targets = {pose[p["target_key"]] for p in pairs["test"]}
    if train_poses & test_targets:
        raise ValueError(
            f"test target poses seen in training: {sorted(train_poses & test_targets)}"
        )


def validation_pairs(
    rows: list[dict],
    poses: Collection[str] = HELD_OUT_POSES,
    every: int = VALIDATION_EVERY,
    validation_poses: Collection[str] = VALIDATION_POSES,
    scored: Collection[str] | None = None,
) -> dict[str, list[dict]]:
    """``{"train": [...], "test": [...]}`` for choosing a recipe, built like the test split
    inside the training part: every ``every``-th training identity (sorted; or the training
    identities ``scored``, so that runs on different training sets score the same people) is
    held out and rendered into the held-out ``validation_poses`` (training poses all), from its
    other training poses; the other training identities train without those poses. No test
    identity and no pose of ``poses`` appears anywhere (ValueError otherwise, or when a split
    is empty)."""
    if set(poses) & set(validation_poses):
        raise ValueError(
            f"validation poses overlap the test poses: {sorted(set(poses) & set(validation_poses))}"
        )
    held = set(poses)
    inside = [r for r in rows if r["split"] == "train" and r["pose"] not in held]
    identities = sorted({r["person_id"] for r in inside})
    if scored is None:
        scored = identities[::every]
    elif set(scored) - set(identities):
        raise ValueError(f"validation split: scored people not in training: {sorted(scored)[:5]}")
    scored = set(scored)
    relabelled = [{**r, "split": "test" if r["person_id"] in scored else "train"} for r in inside]
    try:
        out = held_out_pairs(relabelled, validation_poses)
    except ValueError as err:
        raise ValueError(f"validation split: {err}") from None
    split = {r["key"]: r["split"] for r in rows}
    pose = {r["key"]: r["pose"] for r in rows}
    used = [p[k] for v in out.values() for p in v for k in ("source_key", "target_key")]
    if any(split[k] != "train" or pose[k] in held for k in used):
        raise ValueError("validation split: a test identity or a held-out pose leaked in")
    return out
