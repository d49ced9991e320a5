"""Perception parameters (``config/perception.yaml``), as frozen dataclasses."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from frs_ros.paths import config_path
from frs_ros.perception.frames import DEFAULT_MAX_SIDE


@dataclass(frozen=True)
class DetectionConfig:
    score_threshold: float = 0.1
    nms_iou: float = 0.3
    max_detections: int = 50


@dataclass(frozen=True)
class ProposalConfig:
    """DTwinSeger §3.1 hierarchical filtering: θ, τ, centroid re-prompting, τ'."""

    enabled: bool = True
    points_per_side: int = 16
    batch_size: int = 64
    pred_iou_threshold: float = 0.7
    dedup_iou: float = 0.8
    recenter: bool = True
    containment: float = 0.9
    overlap_with_detections: float = 0.5
    min_area: int = 16
    label: str = "object"


@dataclass(frozen=True)
class TrackingConfig:
    """Keyframes: detection (OWLv2 + proposals) runs on the first frame, every
    ``redetect_every`` frames, when a query brings labels not detected yet, and — with
    ``detect_when_empty`` — on every frame while nothing is tracked. Between keyframes the
    box-prompt tracker carries the masks."""

    redetect_every: int = 5
    max_lost: int = 3
    match_iou: float = 0.3
    keep_iou: float = 0.5
    detect_when_empty: bool = True

    def __post_init__(self) -> None:
        if self.redetect_every < 1 or self.max_lost < 0:
            raise ValueError("redetect_every must be >= 1 and max_lost >= 0")


_SECTIONS = {"detection": DetectionConfig, "proposals": ProposalConfig, "tracking": TrackingConfig}


@dataclass(frozen=True)
class PerceptionConfig:
    vocabulary: tuple[str, ...] = ("object",)
    max_side: int = DEFAULT_MAX_SIDE
    use_depth_model: bool = True
    depth_every: int = 1  # run Depth Anything every N frames, reuse its map in between
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    proposals: ProposalConfig = field(default_factory=ProposalConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def __post_init__(self) -> None:
        if self.depth_every < 1:
            raise ValueError(f"depth_every must be >= 1, got {self.depth_every}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PerceptionConfig:
        known = {f.name for f in fields(cls)}
        if unknown := set(d) - known:
            raise ValueError(f"unknown perception config keys {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        for key, value in d.items():
            if key in _SECTIONS:
                section = _SECTIONS[key]
                if bad := set(value or {}) - {f.name for f in fields(section)}:
                    raise ValueError(f"unknown keys {sorted(bad)} in perception config [{key}]")
                kwargs[key] = section(**(value or {}))
            elif key == "vocabulary":
                kwargs[key] = tuple(str(v) for v in value)
            else:
                kwargs[key] = value
        return cls(**kwargs)

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
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"perception config {path} must be a YAML mapping")
    return PerceptionConfig.from_dict(data)
