"""Studio identities: body shape, skin, hair and clothing, drawn deterministically from a seed."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from dpt_core.studio.parts import N_SURFACES, SURFACE_INDEX, SURFACES
from dpt_core.studio.skeleton import BONE_INDEX, REST_OFFSETS, REST_TIPS

PATTERNS = ("stripes", "checks", "dots", "print", "text", "plain")
HAIR_STYLES = ("bald", "short", "bob", "long", "bun")
BOTTOMS = ("trousers", "shorts", "skirt_short", "skirt_long")
SKIN_TONES = np.array(
    [[255, 224, 196], [241, 194, 164], [224, 172, 138], [198, 134, 100], [161, 102, 70],
     [120, 76, 50], [90, 56, 38]], dtype=np.float64,
)  # fmt: skip
HAIR_COLOURS = np.array(
    [[30, 25, 22], [70, 45, 30], [110, 75, 45], [205, 170, 110], [150, 65, 35], [170, 170, 165],
     [60, 80, 160]], dtype=np.float64,
)  # fmt: skip
_HAIR_SURFACES = {
    "bald": (),
    "short": ("hair_short",),
    "bob": ("hair_bob",),
    "long": ("hair_bob", "hair_back"),
    "bun": ("hair_short", "hair_bun"),
}


@dataclass(frozen=True, eq=False)
class Garment:
    """A fabric: a pattern name, colours (3, 3) RGB 0..255 (base, ink, accent), scale, salt."""

    pattern: str
    colors: np.ndarray
    period: float  # metres
    angle: float  # degrees
    salt: int


@dataclass(frozen=True, eq=False)
class Identity:
    """One synthetic person. Arrays are float64; lengths in metres, colours RGB 0..255."""

    index: int
    seed: int
    height: float  # overall scale, 1.0 = 1.76 m
    offsets: np.ndarray  # (N_BONES, 3) joint offsets in the parent frame
    tips: np.ndarray  # (N_BONES, 3) bone end points in the bone frame
    surface_scale: np.ndarray  # (N_SURFACES, 3) part-frame scale (x, y, axis) of every surface
    skin: np.ndarray  # (3,)
    hair_style: str
    hair: np.ndarray  # (3,)
    top: Garment
    bottom: Garment
    bottom_kind: str
    jacket: Garment | None
    shoes: np.ndarray  # (3,)
    sleeve: float  # sleeve length from the shoulder (0 = sleeveless)
    trouser: float  # trouser leg length from the hip
    waist: float  # height of the waistband above the hip centre
    chest_print: bool
    extras: tuple[int, ...]  # indices into parts.SURFACES of hair and clothes surfaces

    @property
    def person_id(self) -> str:
        return f"id{self.index:05d}"

    @property
    def surfaces(self) -> list[int]:
        """Surfaces this identity renders: the 24 body parts, then its hair and clothes."""
        return list(range(24)) + list(self.extras)


def _colour(rng: np.random.Generator, sat=(0.25, 0.9), val=(0.25, 0.95)) -> np.ndarray:
    rgb = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*sat), rng.uniform(*val))
    return np.array(rgb) * 255.0


def _garment(rng: np.random.Generator) -> Garment:
    base = _colour(rng)
    ink = 255.0 - base if rng.uniform() < 0.5 else _colour(rng, val=(0.1, 0.9))
    pattern = PATTERNS[rng.integers(len(PATTERNS))]
    return Garment(
        pattern=pattern,
        colors=np.stack([base, ink, _colour(rng, sat=(0.6, 1.0))]),
        period=float(rng.uniform(0.015, 0.05)),
        angle=float(rng.choice([0.0, 90.0, 45.0, -30.0, 15.0])),
        salt=int(rng.integers(1 << 30)),
    )


def _body_scales(rng: np.random.Generator) -> dict[str, float]:
    h = rng.uniform(0.9, 1.1)
    jitter = rng.uniform(0.95, 1.05, size=3) * h
    return {
        "h": h, "torso": jitter[0], "arm": jitter[1], "leg": jitter[2],
        "girth": rng.uniform(0.85, 1.25), "shoulder": rng.uniform(0.92, 1.1),
        "hip": rng.uniform(0.92, 1.12), "head": rng.uniform(0.93, 1.07) * h**0.5,
    }  # fmt: skip


def _skeleton(k: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Scale the canonical joint offsets and bone tips by the identity's proportions."""
    per_bone = np.ones((len(REST_OFFSETS), 3))
    for name, i in BONE_INDEX.items():
        kind = name.split("_", 1)[-1]
        length = {"upper_arm": k["arm"], "lower_arm": k["arm"], "hand": k["head"],
                  "upper_leg": k["leg"], "lower_leg": k["leg"], "foot": k["h"],
                  "head": k["head"]}.get(kind, k["torso"])  # fmt: skip
        per_bone[i] = (1.0, length, length)
    offsets = REST_OFFSETS * per_bone[[0, 0, 1, 1, 3, 4, 1, 6, 7, 0, 9, 10, 0, 12, 13]]
    offsets[[BONE_INDEX["r_upper_arm"], BONE_INDEX["l_upper_arm"]], 0] *= k["girth"] * k["shoulder"]
    offsets[[BONE_INDEX["r_upper_leg"], BONE_INDEX["l_upper_leg"]], 0] *= k["girth"] * k["hip"]
    return offsets, REST_TIPS * per_bone


def _surface_scales(k: dict[str, float]) -> np.ndarray:
    g, torso_w = k["girth"], k["girth"] * (k["shoulder"] + k["hip"]) / 2
    scale = np.ones((N_SURFACES, 3))
    for i, s in enumerate(SURFACES):
        if s.bone in ("torso", "pelvis"):
            scale[i] = (torso_w, g, k["torso"])
        elif s.bone == "head" or s.bone.endswith("hand"):
            scale[i] = k["head"]
        elif s.bone.endswith("foot"):
            scale[i] = (1.0, 1.0, k["h"])
        else:
            scale[i] = (g, g, k["arm"] if "arm" in s.bone else k["leg"])
    return scale


def make_identity(index: int, seed: int = 0) -> Identity:
    """Identity ``index`` of the population drawn with ``seed``; same arguments, same person."""
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    rng = np.random.default_rng([seed, 1, index])
    k = _body_scales(rng)
    offsets, tips = _skeleton(k)
    hair_style = str(rng.choice(HAIR_STYLES, p=[0.1, 0.35, 0.2, 0.25, 0.1]))
    bottom_kind = str(rng.choice(BOTTOMS, p=[0.45, 0.2, 0.15, 0.2]))
    has_jacket = bool(rng.uniform() < 0.35)
    extras = list(_HAIR_SURFACES[hair_style])
    extras += [bottom_kind] if bottom_kind.startswith("skirt") else []
    extras += ["jacket"] if has_jacket else []
    return Identity(
        index=index,
        seed=seed,
        height=float(k["h"]),
        offsets=offsets,
        tips=tips,
        surface_scale=_surface_scales(k),
        skin=SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.93, 1.05),
        hair_style=hair_style,
        hair=HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.85, 1.15),
        top=_garment(rng),
        bottom=_garment(rng),
        bottom_kind=bottom_kind,
        jacket=_garment(rng) if has_jacket else None,
        shoes=_colour(rng, sat=(0.0, 0.6), val=(0.05, 0.9)),
        sleeve=float(rng.choice([0.0, rng.uniform(0.1, 0.2), 0.56], p=[0.2, 0.4, 0.4])),
        trouser=float(0.25 if bottom_kind == "shorts" else 0.9),
        waist=float(rng.uniform(0.0, 0.1)),
        chest_print=bool(rng.uniform() < 0.4),
        extras=tuple(sorted(SURFACE_INDEX[name] for name in extras)),
    )
