"""Perception parameters (``config/perception.yaml``), as frozen dataclasses.

A YAML file is checked field by field (``frs_ros.validation.config``): types strictly, and
the ranges annotated on the fields (thresholds and IoUs in [0, 1], counts >= 1).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

from annotated_types import Ge, Interval

from frs_ros import validation
from frs_ros.paths import config_path
from frs_ros.perception.frames import DEFAULT_MAX_SIDE, DEFAULT_WORK_SIDE
from frs_ros.yaml_safe import load_yaml_mapping

Fraction = Annotated[float, Interval(ge=0.0, le=1.0)]  # a threshold, score or IoU
Count = Annotated[int, Ge(1)]


@dataclass(frozen=True)
class DetectionConfig:
    score_threshold: Fraction = 0.1
    nms_iou: Fraction = 0.3
    max_detections: Count = 50


@dataclass(frozen=True)
class ProposalConfig:
    """DTwinSeger §3.1 hierarchical filtering: θ, τ, centroid re-prompting, τ'."""

    enabled: bool = True
    points_per_side: Annotated[int, Interval(ge=1, le=256)] = 16
    batch_size: Count = 64
    pred_iou_threshold: Fraction = 0.7
    dedup_iou: Fraction = 0.8
    recenter: bool = True
    containment: Fraction = 0.9
    overlap_with_detections: Fraction = 0.5
    min_area: Annotated[int, Ge(0)] = 16
    label: str = "object"


@dataclass(frozen=True)
class TrackingConfig:
    """Keyframes: detection (OWLv2 + proposals) runs on the first frame, every
    ``redetect_every`` frames, when a query brings labels not detected yet, and — with
    ``detect_when_empty`` — on every frame while nothing is tracked. Between keyframes the
    box-prompt tracker carries the masks."""

    redetect_every: Count = 5
    max_lost: Annotated[int, Ge(0)] = 3
    match_iou: Fraction = 0.3
    keep_iou: Fraction = 0.5
    detect_when_empty: bool = True

    def __post_init__(self) -> None:
        if self.redetect_every < 1 or self.max_lost < 0:
            raise ValueError("redetect_every must be >= 1 and max_lost >= 0")


@dataclass(frozen=True)
class PerceptionConfig:
    vocabulary: tuple[str, ...] = ("object",)
    max_side: Count = DEFAULT_MAX_SIDE
    # frames larger than this on a side are processed downscaled, masks scaled back up
    work_side: Annotated[int, Ge(64)] = DEFAULT_WORK_SIDE
    use_depth_model: bool = True
    depth_every: Count = 1  # run Depth Anything every N frames, reuse its map in between
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    proposals: ProposalConfig = field(default_factory=ProposalConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def __post_init__(self) -> None:
        if self.depth_every < 1:
            raise ValueError(f"depth_every must be >= 1, got {self.depth_every}")

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "perception config") -> PerceptionConfig:
        """From a mapping as in ``config/perception.yaml``; a wrong type, a value out of
        range or an unknown key is a ValueError naming ``where`` and the field."""
        return validation.config(cls, d, where)

    def with_overrides(self, **sections: dict[str, Any]) -> PerceptionConfig:
        """A copy with some section fields replaced, e.g. ``tracking={"max_lost": 1}``."""
        return replace(self, **{k: replace(getattr(self, k), **v) for k, v in sections.items()})


def load_perception_config(
    source: str | os.PathLike[str] | dict[str, Any] | PerceptionConfig | None = None,
) -> PerceptionConfig:
    """From a YAML path, a file name under ``config/`` (``perception_cpu.yaml``), a
    mapping, or ``None`` for ``config/perception.yaml``."""
    if isinstance(source, PerceptionConfig):
        return source
    if isinstance(source, dict):
        return PerceptionConfig.from_dict(source)
    path = Path(source) if source is not None else config_path("perception.yaml")
    if not path.is_file() and path.parent == Path(".") and config_path(path.name).is_file():
        path = config_path(path.name)
    data = load_yaml_mapping(path, "perception config")
    return PerceptionConfig.from_dict(data, where=f"perception config {path}")
