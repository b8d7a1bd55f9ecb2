"""What to generate: for every training identity, its source images and K target poses.

Sources: an identity's training images with a usable IUV, best first (largest fraction of the
image on the body, then key order), at most ``sources_per_identity``; generated image j uses
source j mod M, so the views an identity was photographed in alternate. Targets: K distinct
poses of the bank drawn with a generator seeded by (seed, person), so an identity's draw does
not depend on the others. Identities that also appear in ``query/`` or ``bounding_box_test/``
are never sources (a failure row says so), nor are junk (-1) and distractors (0000). Identities
are cut into shards of ``identities_per_shard``, the unit of work and of resume.

``ROOT/reid/NAME/plan.parquet`` (PLAN_SCHEMA) holds one row per generated image and
``plan.json`` the resolved plan; failures go to ``ROOT/failures/reid/NAME.parquet``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dpt_core import storage
from dpt_core.data import shards
from dpt_core.reid.bank import POSE_COLUMNS, PoseBank, bank_poses
from dpt_core.reid.config import AugmentConfig
from dpt_core.reid.crop import crop_box, square_box
from dpt_core.reid.market import NOT_IDENTITIES, TRAIN_FOLDER, generated_name
from dpt_core.reid.sources import SourceRecord, SourceSet, iuv_coverage, source_records
from dpt_core.render import checkpoint_identity, output_key, run_of_checkpoint

logger = logging.getLogger(__name__)

STAGE = "reid"
PLAN_VERSION = 1
CROP_COLUMNS = ("crop_x0", "crop_y0", "crop_x1", "crop_y1")
PLAN_SCHEMA = pa.schema(
    [("name", pa.string()), ("shard", pa.int32()), ("person", pa.string()),
     ("person_id", pa.string()), ("index", pa.int32()), ("camera", pa.int32()),
     ("source_key", pa.string()), ("source_name", pa.string()), ("target_key", pa.string()),
     ("render_key", pa.string())] + [(c, pa.float32()) for c in CROP_COLUMNS]
)  # fmt: skip


@dataclass(frozen=True)
class AugmentPlan:
    """A resolved augmentation: inputs in the work root, checkpoint identity and counts."""

    config: AugmentConfig
    source: SourceSet
    bank: PoseBank
    name: str
    checkpoint_url: str
    checkpoint_sha256: str
    step: int
    run: str
    image_size: int
    shards: int
    identities: int
    generated: int

    @property
    def url(self) -> str:
        """``ROOT/reid/NAME``."""
        return storage.join(self.source.root_url, "reid", self.name)

    def rows(self, index: int | None = None) -> list[dict]:
        """Plan rows (all, or identity shard ``index``'s), in plan order (person, then j)."""
        table = shards.read_manifest(storage.join(self.url, "plan.parquet"))
        if index is not None:
            table = table.filter(pc.equal(table.column("shard"), index))
        return table.to_pylist()


def person_seed(seed: int, person: str) -> list[int]:
    """Seed of one person's draw: (seed, first 48 bits of sha256(person))."""
    return [seed, int(hashlib.sha256(person.encode()).hexdigest()[:12], 16)]


def choose_sources(records: list[SourceRecord], coverage: dict[str, float], m: int) -> list:
    """Up to ``m`` records with a non-empty IUV, largest body coverage first, then by key."""
    usable = [r for r in records if coverage.get(r.key, 0.0) > 0.0]
    return sorted(usable, key=lambda r: (-coverage[r.key], r.key))[:m]


def choose_targets(pose_keys: list[str], person: str, k: int, seed: int) -> list[str]:
    """``k`` distinct keys of the sorted ``pose_keys``, drawn for ``person``."""
    if k > len(pose_keys):
        raise ValueError(f"per_identity: {k} poses asked, the pose bank has {len(pose_keys)}")
    picked = np.random.default_rng(person_seed(seed, person)).choice(len(pose_keys), k, False)
    return [pose_keys[i] for i in picked]


def _failure(person: str, source: str, reason: str, detail: str) -> storage.Failure:
    return storage.Failure(person, source, STAGE, reason, detail)


def _by_person(records: list[SourceRecord], tests: set[str]) -> tuple[dict, list]:
    """({person: training records} of augmentable persons, failures for test persons)."""
    people: dict[str, list[SourceRecord]] = {}
    for record in records:
        if record.folder == TRAIN_FOLDER and record.person not in NOT_IDENTITIES:
            people.setdefault(record.person, []).append(record)
    leaked = sorted(set(people) & tests)
    failures = [_failure(p, people[p][0].name, "test identity", "also in query/ or gallery: "
                         "never a source") for p in leaked]  # fmt: skip
    return {p: rs for p, rs in sorted(people.items()) if p not in tests}, failures


def _poses(plan_source: SourceSet, bank: PoseBank, records: list[SourceRecord]) -> dict:
    """{key: pose row} of the bank; the source's own training keys only when bank = source."""
    table = bank_poses(bank)
    if (bank.root_url, bank.dataset, bank.source) == (
        plan_source.root_url, plan_source.dataset, plan_source.iuv_source,
    ):  # fmt: skip
        allowed = pa.array(sorted({r.key for r in records if r.folder == TRAIN_FOLDER}))
        table = table.filter(pc.is_in(table.column("key"), allowed))
    return {row["key"]: row for row in table.to_pylist()}


def _crop(pose: dict, config: AugmentConfig, size: int) -> tuple[float, ...]:
    box = [pose[c] or 0.0 for c in POSE_COLUMNS[3:]]
    return crop_box(square_box(box, pose["height"], pose["width"], size), config.size,
                    config.margin, size)  # fmt: skip


def _person_rows(person, sources, targets, poses, config, size) -> list[dict]:
    rows = []
    for j, target in enumerate(targets):
        src = sources[j % len(sources)]
        crop = dict(zip(CROP_COLUMNS, _crop(poses[target], config, size), strict=True))
        rows.append({
            "name": generated_name(person, src.camera, j), "shard": 0, "person": person,
            "person_id": src.person_id, "index": j, "camera": src.camera,
            "source_key": src.key, "source_name": f"{src.folder}/{src.name}",
            "target_key": target, "render_key": output_key(src.key, target), **crop,
        })  # fmt: skip
    return rows


def plan_augment(config: AugmentConfig, source: SourceSet, bank: PoseBank) -> AugmentPlan:
    """Choose sources and targets for every training identity; write the plan (see above)."""
    url, sha, step, scale = checkpoint_identity(config.checkpoint)
    try:
        run = run_of_checkpoint(url)
    except ValueError:
        run = "external"
    records, tests = source_records(source)
    people, failures = _by_person(records, tests)
    coverage, poses = iuv_coverage(source), _poses(source, bank, records)
    pose_keys, rows, persons = sorted(poses), [], []
    for person, own in people.items():
        chosen = choose_sources(own, coverage, config.sources_per_identity)
        if not chosen:
            failures.append(_failure(person, own[0].name, "no source", "no image with a body IUV"))
            continue
        targets = choose_targets(pose_keys, person, config.per_identity, config.seed)
        rows += _person_rows(person, chosen, targets, poses, config, scale.image_size)
        persons.append(person)
    shard_of = {p: i // config.identities_per_shard for i, p in enumerate(persons)}
    for row in rows:
        row["shard"] = shard_of[row["person"]]
    name = config.name or f"reid-{source.dataset}"
    n_shards = (len(persons) + config.identities_per_shard - 1) // config.identities_per_shard
    plan = AugmentPlan(config, source, bank, name, url, sha, step, run, scale.image_size,
                       n_shards, len(persons), len(rows))  # fmt: skip
    shards.write_manifest(storage.join(plan.url, "plan.parquet"), rows, PLAN_SCHEMA)
    info = {"version": PLAN_VERSION, **asdict(plan), "test_persons": len(tests)}
    storage.write_bytes(storage.join(plan.url, "plan.json"), json.dumps(info, indent=1).encode())
    if failures:
        storage.append_failures(source.root_url, STAGE, name, failures)
    logger.info("%s: %d identities x %d poses in %d shards; %d failures", plan.url,
                len(persons), config.per_identity, n_shards, len(failures))  # fmt: skip
    return plan
