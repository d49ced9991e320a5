"""Random twins of moving shapes, for tests, token benchmarks and smoke runs.

This is geometry only (labels are drawn from a small list); the reasoning benchmark's
scene generator (``frs_ros.benchmark``) builds semantically meaningful scenes on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frs_ros.twin.geometry import CameraIntrinsics
from frs_ros.twin.model import FrameTwin, Twin, TwinObject

LABELS = ("mug", "bottle", "knife", "bowl", "plate", "book", "phone", "apple", "cup", "box")


def shape_mask(
    size: tuple[int, int], center: tuple[float, float], radii: tuple[float, float], kind: str
) -> np.ndarray:
    """A filled ellipse or axis-aligned rectangle, clipped to the image."""
    h, w = size
    yy, xx = np.indices((h, w))
    cx, cy = center
    rx, ry = max(radii[0], 1.0), max(radii[1], 1.0)
    if kind == "ellipse":
        return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    inside = (np.abs(xx - cx) <= rx) & (np.abs(yy - cy) <= ry)
    return np.asarray(inside, dtype=bool)


@dataclass
class _Shape:
    """One drifting shape of :func:`random_twin`."""

    id: int
    label: str
    score: float
    center: np.ndarray
    velocity: np.ndarray
    radii: tuple[float, float]
    kind: str
    depth: float


def random_twin(
    n_objects: int,
    n_frames: int = 1,
    size: tuple[int, int] = (480, 640),
    seed: int = 0,
    metric_depth: bool = True,
) -> Twin:
    """``n_objects`` shapes at random depths, each drifting a few pixels per frame.

    Depth is a plane per object (metres when ``metric_depth``, else relative in [0, 1]),
    so depth statistics and 3-D centroids are exercised too.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    intr = CameraIntrinsics(fx=0.8 * w, fy=0.8 * w, cx=w / 2, cy=h / 2)
    specs = []
    for i in range(n_objects):
        rx, ry = rng.uniform(0.02, 0.08) * w, rng.uniform(0.02, 0.08) * h
        specs.append(
            _Shape(
                id=i + 1,
                label=LABELS[int(rng.integers(len(LABELS)))],
                score=float(rng.uniform(0.3, 1.0)),
                center=np.array([rng.uniform(rx, w - rx), rng.uniform(ry, h - ry)]),
                velocity=rng.normal(0, 3, size=2) if rng.random() < 0.5 else np.zeros(2),
                radii=(rx, ry),
                kind="ellipse" if rng.random() < 0.5 else "rect",
                depth=float(rng.uniform(0.5, 4.0) if metric_depth else rng.uniform(0, 1)),
            )
        )
    frames = []
    for t in range(n_frames):
        objects = []
        for s in specs:
            c = s.center + t * s.velocity
            mask = shape_mask(size, (float(c[0]), float(c[1])), s.radii, s.kind)
            if not mask.any():
                continue  # drifted out of view
            depth = np.full(size, s.depth, dtype=np.float32)
            objects.append(
                TwinObject.from_mask(
                    s.id,
                    s.label,
                    s.score,
                    mask,
                    depth=depth,
                    depth_source="metric" if metric_depth else "relative",
                    intrinsics=intr if metric_depth else None,
                )
            )
        frames.append(FrameTwin(index=t, stamp=t / 10.0, width=w, height=h, objects=objects))
    return Twin(frames=frames)
