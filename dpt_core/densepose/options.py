"""Typed options of the extract-densepose stage, and the names they choose from.

Light on purpose (no torch / detectron2 import) so the command line starts fast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

PersonMode = Literal["all", "largest", "each"]
PERSON_MODES: tuple[str, ...] = ("all", "largest", "each")
Overlap = Literal["score", "detectron"]
OVERLAP_RULES: tuple[str, ...] = ("score", "detectron")
"""How people "all" in one IUV share a pixel: ``score`` — the higher detection score wins
every channel of a body pixel (ours); ``detectron`` — Detectron's ``_IUV.png`` writer: only
people scoring above ``DETECTRON_IUV_MIN_SCORE``, visited in ascending score, each filling only
the IUV values (channel by channel) that are still 0, so the first (lower-scoring) one keeps
an overlap."""
DETECTRON_IUV_MIN_SCORE = 0.65
SOURCES: tuple[str, ...] = ("detectron2", "precomputed", "studio")
DEFAULT_CONFIG = "densepose_rcnn_R_50_FPN_s1x"
SHIPPED_CONFIGS: dict[str, str] = {  # every DensePose R-CNN chart model of the model zoo
    "densepose_rcnn_R_50_FPN_s1x": "R50-FPN, 8-conv head + decoder (model 165712039)",
    "densepose_rcnn_R_101_FPN_s1x": "R101-FPN, 8-conv head + decoder (model 165712084)",
    "densepose_rcnn_R_50_FPN_DL_s1x": "R50-FPN, DeepLab head + decoder (model 165712097)",
    "densepose_rcnn_R_101_FPN_DL_s1x": "R101-FPN, DeepLab head + decoder (model 165712116)",
    "densepose_rcnn_R_50_FPN_s1x_legacy": "R50-FPN legacy, no decoder (model 164832157)",
    "densepose_rcnn_R_101_FPN_s1x_legacy": "R101-FPN legacy, no decoder (model 164832182)",
}


@dataclass(frozen=True)
class Detections:
    """Which detections become people: score ≥ ``score_threshold``
    (``MODEL.ROI_HEADS.SCORE_THRESH_TEST``), at most ``max_people`` per image
    (``TEST.DETECTIONS_PER_IMAGE``); ``about`` says where the values come from."""

    score_threshold: float
    max_people: int
    about: str


DETECTION_PRESETS: dict[str, Detections] = {
    "dpt": Detections(0.8, 10, "ours: confident people only, close to apply_net.py show"),
    "apply-net-dump": Detections(
        0.05, 100, "what apply_net.py dump and Detectron keep: the detector defaults"
    ),
    "apply-net-show": Detections(0.8, 100, "apply_net.py show with its default --min_score 0.8"),
}
DEFAULT_DETECTIONS = "dpt"


def detection_settings(
    preset: str = DEFAULT_DETECTIONS,
    score_threshold: float | None = None,
    max_people: int | None = None,
) -> tuple[float, int]:
    """(score threshold, max people) of a ``DETECTION_PRESETS`` name; explicit values win."""
    if preset not in DETECTION_PRESETS:
        raise ValueError(
            f"detections: expected one of {', '.join(DETECTION_PRESETS)}, got {preset!r}"
        )
    chosen = DETECTION_PRESETS[preset]
    return (
        chosen.score_threshold if score_threshold is None else score_threshold,
        chosen.max_people if max_people is None else max_people,
    )


@dataclass(frozen=True)
class ExtractOptions:
    """How to extract IUV images from a dataset.

    ``source``: detectron2 (needs ``weights``, a .pth/.pkl path or URL; a .pkl also needs
    ``allow_pickle``), precomputed (needs ``precomputed_url``, a folder of IUV files) or
    studio (ground truth in the shards). ``mode``: all people in one IUV, the largest only,
    or one IUV each; ``overlap`` how people share a pixel in mode all (``OVERLAP_RULES``,
    detectron2 source only). ``min_size`` overrides ``INPUT.MIN_SIZE_TEST`` (0 = native size),
    ``max_people`` ``TEST.DETECTIONS_PER_IMAGE``, ``score_threshold``
    ``MODEL.ROI_HEADS.SCORE_THRESH_TEST``; their defaults are the ``"dpt"`` preset of
    ``DETECTION_PRESETS``.
    """

    source: str = "studio"
    mode: PersonMode = "all"
    overlap: Overlap = "score"
    config: str = DEFAULT_CONFIG
    weights: str | None = None
    allow_pickle: bool = False
    device: str = "cpu"
    batch_size: int = 8
    score_threshold: float = DETECTION_PRESETS[DEFAULT_DETECTIONS].score_threshold
    max_people: int = DETECTION_PRESETS[DEFAULT_DETECTIONS].max_people
    min_size: int | None = None
    precomputed_url: str | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source: expected one of {SOURCES}, got {self.source!r}")
        if self.mode not in PERSON_MODES:
            raise ValueError(f"mode: expected one of {PERSON_MODES}, got {self.mode!r}")
        if self.overlap not in OVERLAP_RULES:
            raise ValueError(f"overlap: expected one of {OVERLAP_RULES}, got {self.overlap!r}")
        if self.overlap != "score" and (self.mode != "all" or self.source != "detectron2"):
            raise ValueError(
                f"overlap: {self.overlap!r} combines detected people: it needs source "
                f"'detectron2' and mode 'all' (got {self.source!r}, {self.mode!r})"
            )
        if self.batch_size < 1 or self.max_people < 1:
            raise ValueError("batch_size and max_people must be >= 1")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError(f"score_threshold: expected 0..1, got {self.score_threshold}")
        if self.min_size is not None and self.min_size < 0:
            raise ValueError(f"min_size: expected >= 0 or None, got {self.min_size}")
        if self.source == "detectron2" and not self.weights:
            raise ValueError("weights: required for source 'detectron2' (official .pth/.pkl)")
        if self.source == "precomputed" and not self.precomputed_url:
            raise ValueError("precomputed_url: required for source 'precomputed'")

    def fingerprint_fields(self) -> dict[str, object]:
        """The options that decide the output (not where or how fast it runs: device, batch
        size, the weights' location — their sha256 comes from the extractor)."""
        ignored = {"device", "batch_size", "weights", "allow_pickle"}
        return {k: v for k, v in asdict(self).items() if k not in ignored}

    def overrides(self) -> dict[str, object]:
        """detectron2 config overrides these options imply."""
        out: dict[str, object] = {
            "MODEL.ROI_HEADS.SCORE_THRESH_TEST": float(self.score_threshold),
            "TEST.DETECTIONS_PER_IMAGE": int(self.max_people),
        }
        if self.min_size is not None:
            out["INPUT.MIN_SIZE_TEST"] = int(self.min_size)
        return out
