"""Spatial relation descriptors between two objects (DTwinSeger seed §3.2, R_ij = T(m_i, m_j)).

Definitions (``a`` REL ``b``), all in image coordinates (x right, y down):

- ``left_of`` / ``right_of``: the centroids differ horizontally by more than half the
  narrower box width. Symmetric: a left_of b ⇔ b right_of a.
- ``above`` / ``below``: the same vertically, with box heights.
- ``inside``: at least ``CONTAIN`` of a's pixels are in b and a is smaller than b.
- ``surrounding``: b is inside a.
- ``overlapping``: the masks share pixels but neither is inside the other.
- ``nearer`` / ``farther``: both objects have depth of the same source and their median
  depths differ by more than ``DEPTH_TOL`` of the larger one (depth grows with distance,
  see ``frs_ros.twin.geometry``).

Several can hold at once (a cup can be inside a shelf box and nearer than it).
"""

from __future__ import annotations

from frs_ros.twin.model import TwinObject
from frs_ros.twin.rle import intersection_area

RELATIONS: tuple[str, ...] = (
    "left_of",
    "right_of",
    "above",
    "below",
    "inside",
    "surrounding",
    "overlapping",
    "nearer",
    "farther",
)
CONTAIN = 0.9
DEPTH_TOL = 0.05


def relations(a: TwinObject, b: TwinObject) -> list[str]:
    """Every relation of ``RELATIONS`` that holds for ``a`` relative to ``b``, in that order."""
    if a.size != b.size:
        raise ValueError(f"objects {a.id} and {b.id} come from images of different sizes")
    out: list[str] = []
    dx = b.centroid[0] - a.centroid[0]
    dy = b.centroid[1] - a.centroid[1]
    min_w = min(a.bbox[2] - a.bbox[0], b.bbox[2] - b.bbox[0])
    min_h = min(a.bbox[3] - a.bbox[1], b.bbox[3] - b.bbox[1])
    if abs(dx) > min_w / 2:
        out.append("left_of" if dx > 0 else "right_of")
    if abs(dy) > min_h / 2:
        out.append("above" if dy > 0 else "below")

    inter = intersection_area(a.mask, b.mask)
    if inter and inter >= CONTAIN * a.area and a.area < b.area:
        out.append("inside")
    elif inter and inter >= CONTAIN * b.area and b.area < a.area:
        out.append("surrounding")
    elif inter:
        out.append("overlapping")

    if a.depth is not None and b.depth is not None and a.depth.source == b.depth.source:
        da, db = a.depth.median, b.depth.median
        if abs(da - db) > DEPTH_TOL * max(abs(da), abs(db)):
            out.append("nearer" if da < db else "farther")
    return out
