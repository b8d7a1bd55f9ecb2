"""The training index: which samples and pairs a run uses and where their bytes live.

Built once per run from metadata only (Parquet manifests and stage markers, no tar is read):
the pairs of one split, the dataset shard of every sample in them, which samples have an IUV
(``densepose/NAME/SOURCE``) and which have a usable precomputed texture (``textures/NAME``
with ``n`` equal to the model's ``atlas_n``). Pairs whose samples lack an IUV are dropped
(logged). It holds integer arrays (a few bytes per pair and sample) and the sample keys; image
bytes are never held here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from dpt_core import storage
from dpt_core.data.manifest import read_dataset_manifest
from dpt_core.data.pairs import read_pairs
from dpt_core.data.shards import read_manifest, shard_index, shard_manifest_url
from dpt_core.textures import dataset_shard_url, iuv_shard_url, texture_shard_url

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardFiles:
    """The tars of one dataset shard: images, IUVs and (when usable) textures."""

    index: int
    images: str
    iuvs: str
    textures: str | None


@dataclass(frozen=True, eq=False)
class TrainIndex:
    """Samples (S) and pairs (P) of a run.

    ``keys`` (S,) str; ``sample_shard`` (S,) int64 into ``shards``; ``sample_person`` (S,)
    int64 into ``persons``; ``has_texture`` (S,) bool; ``pairs`` (P, 2) int64 (source, target).
    """

    shards: tuple[ShardFiles, ...]
    keys: np.ndarray
    sample_shard: np.ndarray
    sample_person: np.ndarray
    has_texture: np.ndarray
    pairs: np.ndarray
    persons: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.keys)

    def of_persons(self, keep: np.ndarray) -> TrainIndex:
        """The pairs (and their samples) of the persons where ``keep`` (len(persons),) is True;
        person codes are unchanged. ValueError when no pair is left."""
        pairs = self.pairs[keep[self.sample_person[self.pairs[:, 0]]]]
        if len(pairs) == 0:
            raise ValueError("no pair left for the chosen persons")
        used, compact = np.unique(pairs, return_inverse=True)
        return TrainIndex(self.shards, self.keys[used], self.sample_shard[used],
                          self.sample_person[used], self.has_texture[used],
                          compact.reshape(-1, 2).astype(np.int64), self.persons)  # fmt: skip

    def blender_split(self, every: int) -> tuple[TrainIndex, TrainIndex]:
        """(predictive index, blender index): every ``every``-th person (sorted ids, from the
        first) goes to the blender only, the rest to the predictive stage only."""
        present = np.unique(self.sample_person)
        if len(present) < 2:
            raise ValueError(f"the blender split needs two persons or more, got {len(present)}")
        blender = np.zeros(len(self.persons), bool)
        blender[present[::every]] = True
        return self.of_persons(~blender), self.of_persons(blender)


def _keys_of(manifest_url: str) -> set[str]:
    if not storage.exists(manifest_url):
        logger.warning("no manifest %s: its samples are skipped", manifest_url)
        return set()
    return set(read_manifest(manifest_url).column("key").to_pylist())


def _texture_keys(url: str, atlas_n: int | None) -> set[str] | None:
    """Keys of a committed texture shard with ``n == atlas_n``, else None (scatter on the fly)."""
    marker = storage.read_marker(url)
    if marker is None or not storage.exists(url):
        return None
    n = marker.get("info", {}).get("n")
    if n != atlas_n:
        logger.info("%s has n=%s, the model atlas_n=%s: scattering on the fly", url, n, atlas_n)
        return None
    return _keys_of(shard_manifest_url(url))


def _shard_files(
    root_url: str, name: str, source: str, stem: str, atlas_n: int | None, use_textures: bool
) -> tuple[ShardFiles, set[str], set[str]]:
    """(files, keys with an IUV, keys with a texture) of the shard called ``stem``."""
    index = shard_index(stem + ".tar")
    iuvs = iuv_shard_url(root_url, name, source, index)
    tex_url = texture_shard_url(root_url, name, index)
    tex_keys = _texture_keys(tex_url, atlas_n) if use_textures else None
    files = ShardFiles(
        index, dataset_shard_url(root_url, name, index), iuvs, tex_url if tex_keys else None
    )
    return files, _keys_of(shard_manifest_url(iuvs)), tex_keys or set()


def build_index(
    root_url: str,
    name: str,
    iuv_source: str = "studio",
    split: str = "train",
    atlas_n: int | None = None,
    use_textures: bool = True,
) -> TrainIndex:
    """Index the ``split`` pairs of dataset ``name``; ValueError when no pair is usable."""
    pairs = read_pairs(root_url, name, split)
    if pairs.num_rows == 0:
        raise ValueError(f"no {split} pairs for dataset {name!r} under {root_url} (make-pairs)")
    src, tgt = (
        np.asarray(pairs.column(c).to_pylist(), object) for c in ("source_key", "target_key")
    )
    person_of_pair = np.asarray(pairs.column("person_id").to_pylist(), object)
    dataset = read_dataset_manifest(root_url, name, ["key", "shard"])
    stem_of = dict(
        zip(dataset.column("key").to_pylist(), dataset.column("shard").to_pylist(), strict=True)
    )
    keys, inverse = np.unique(np.concatenate([src, tgt]), return_inverse=True)
    stems = np.asarray([stem_of.get(k, "") for k in keys], str)
    shard_stems, stem_ids = np.unique(stems, return_inverse=True)
    stem_ids = stem_ids.astype(np.int64) - int(shard_stems[0] == "")  # -1: not in any shard
    shard_stems = shard_stems[shard_stems != ""]
    by_stem = np.split(np.argsort(stem_ids, kind="stable"), np.cumsum(np.bincount(stem_ids + 1)))
    shard_list, ok, textured = [], np.zeros(len(keys), bool), np.zeros(len(keys), bool)
    for stem, here in zip(shard_stems, by_stem[1:], strict=False):
        files, iuv_keys, tex_keys = _shard_files(
            root_url, name, iuv_source, str(stem), atlas_n, use_textures
        )
        shard_list.append(files)
        ok[here] = [keys[i] in iuv_keys for i in here]
        textured[here] = [keys[i] in tex_keys for i in here]
    pair_ids = inverse.reshape(2, -1).T
    usable = ok[pair_ids].all(axis=1)
    if not usable.any():
        raise ValueError(
            f"no usable {split} pairs for dataset {name!r} under {root_url}: {len(usable)} "
            f"pairs, none with both samples in the dataset shards and IUV source {iuv_source!r}"
        )
    if not usable.all():
        logger.warning(
            "%d of %d %s pairs dropped: a sample without IUV or not in the shards",
            int((~usable).sum()),
            len(usable),
            split,
        )
    return _compact(shard_list, keys, stem_ids, textured, pair_ids[usable], person_of_pair[usable])


def _compact(shard_list, keys, stem_ids, textured, pair_ids, person_of_pair) -> TrainIndex:
    """Keep only the samples the usable pairs reference; log the summary."""
    used, pairs = np.unique(pair_ids, return_inverse=True)
    persons, person_codes = np.unique(person_of_pair, return_inverse=True)
    sample_person = np.zeros(len(used), np.int64)
    sample_person[pairs.reshape(-1, 2)[:, 0]] = person_codes
    sample_person[pairs.reshape(-1, 2)[:, 1]] = person_codes
    index = TrainIndex(
        tuple(shard_list),
        keys[used],
        stem_ids[used],
        sample_person,
        textured[used],
        pairs.reshape(-1, 2).astype(np.int64),
        tuple(str(p) for p in persons),
    )
    logger.info(
        "training index: %d pairs, %d samples of %d persons in %d shards (%d with textures)",
        len(index.pairs),
        len(index),
        len(persons),
        len(shard_list),
        int(index.has_texture.sum()),
    )
    return index
