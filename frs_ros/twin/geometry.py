"""Per-object geometry: depth statistics over a mask and the 3-D centroid.

Depth convention (contract, docs/DESIGN.md §3): depth values always *grow with distance*.
``metric`` depth is in metres (sensor); ``relative`` depth is unitless in [0, 1] with
0 = nearest in the frame. Depth Anything V2 predicts relative *inverse* depth (larger =
nearer); perception converts it to this convention before building a twin, so every
consumer (tools, relations, prompts) can compare depths the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from frs_ros import validation

DepthSource = Literal["relative", "metric"]
DEPTH_SOURCES: tuple[str, ...] = ("relative", "metric")


@dataclass(frozen=True)
class DepthStats:
    """Depth over the valid pixels of a mask. ``valid_ratio`` = valid / mask pixels."""

    mean: float
    var: float
    median: float
    min: float
    max: float
    source: DepthSource
    valid_ratio: float = 1.0

    def __post_init__(self) -> None:
        if self.source not in DEPTH_SOURCES:
            raise ValueError(f"depth source must be one of {DEPTH_SOURCES}, got {self.source!r}")
        for name in ("mean", "var", "median", "min", "max"):
            validation.number(getattr(self, name), f"depth {name}")
        validation.number(self.valid_ratio, "depth valid_ratio", 0.0, 1.0)


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics (sensor_msgs/CameraInfo K): fx, fy, cx, cy in pixels."""

    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        # A NaN or infinite entry would make every 3-D centroid NaN (and twin.json not JSON).
        for name in ("fx", "fy", "cx", "cy"):
            validation.number(getattr(self, name), f"camera intrinsics {name}")
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")

    @classmethod
    def from_k(cls, k: list[float] | np.ndarray) -> CameraIntrinsics:
        """From the row-major 3x3 ``K`` of a CameraInfo message."""
        k = np.asarray(k, dtype=float).reshape(-1)
        if k.size != 9:
            raise ValueError(f"K must have 9 entries, got {k.size}")
        return cls(fx=float(k[0]), fy=float(k[4]), cx=float(k[2]), cy=float(k[5]))

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float) -> CameraIntrinsics:
        """A centred pinhole with square pixels and this horizontal field of view."""
        if not 0 < hfov_deg < 180:
            raise ValueError(
                f"horizontal field of view must be in (0, 180) degrees, got {hfov_deg}"
            )
        f = (width / 2) / np.tan(np.radians(hfov_deg) / 2)
        return cls(fx=float(f), fy=float(f), cx=width / 2, cy=height / 2)

    def backproject(self, u: float, v: float, z: float) -> tuple[float, float, float]:
        """Pixel (u, v) at depth z (metres) → point in the camera optical frame."""
        return ((u - self.cx) * z / self.fx, (v - self.cy) * z / self.fy, z)


def valid_depth(depth: np.ndarray) -> np.ndarray:
    """Pixels that carry a measurement: finite, > 0 (sensors report 0 for no return) and
    within ``validation.MAX_DEPTH_M`` (nothing ranges further; 1e38 m is garbage)."""
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(depth) & (depth > 0) & (depth <= validation.MAX_DEPTH_M)
    return np.asarray(valid, dtype=bool)


def depth_stats(mask: np.ndarray, depth: np.ndarray, source: DepthSource) -> DepthStats | None:
    """Statistics of ``depth`` over ``mask``, ignoring NaN/inf/zero pixels.

    Returns ``None`` when the mask has no valid depth pixel (e.g. all-NaN depth), so a
    missing measurement is never mistaken for a real zero distance. For ``relative``
    depth, 0 is a legitimate value (nearest point), so only non-finite pixels are dropped.
    """
    if depth.shape != mask.shape:
        raise ValueError(f"depth shape {depth.shape} does not match mask shape {mask.shape}")
    valid = mask & valid_depth(depth) if source == "metric" else mask & np.isfinite(depth)
    n_mask = int(mask.sum())
    n_valid = int(valid.sum())
    if n_valid == 0:
        return None
    values = depth[valid].astype(np.float64)
    return DepthStats(
        mean=float(values.mean()),
        var=float(values.var()),
        median=float(np.median(values)),
        min=float(values.min()),
        max=float(values.max()),
        source=source,
        valid_ratio=n_valid / n_mask,
    )


def centroid_3d(
    centroid: tuple[float, float], stats: DepthStats | None, intrinsics: CameraIntrinsics | None
) -> tuple[float, float, float] | None:
    """3-D centroid in the camera frame from the 2-D centroid and the median metric depth.

    Only metric depth has a scale; relative depth gives ``None``. The median is robust to
    the mask bleeding onto the background at object borders.
    """
    if stats is None or intrinsics is None or stats.source != "metric":
        return None
    return intrinsics.backproject(centroid[0], centroid[1], stats.median)
