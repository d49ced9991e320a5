"""The digital twin data model (docs/DESIGN.md §3). Importing it never imports torch."""

from frs_ros.twin.geometry import CameraIntrinsics, DepthSource, DepthStats
from frs_ros.twin.model import (
    LEVELS,
    FrameTwin,
    Twin,
    TwinObject,
    UnknownObjectError,
    clip_bbox,
)
from frs_ros.twin.relations import RELATIONS, relations
from frs_ros.twin.rle import RLE
from frs_ros.twin.serialize import to_compact, to_verbose

__all__ = [
    "LEVELS",
    "RELATIONS",
    "RLE",
    "CameraIntrinsics",
    "DepthSource",
    "DepthStats",
    "FrameTwin",
    "Twin",
    "TwinObject",
    "UnknownObjectError",
    "clip_bbox",
    "relations",
    "to_compact",
    "to_verbose",
]
