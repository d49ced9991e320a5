"""The digital twin (docs/DESIGN.md §3): objects per frame, frames per window.

A ``TwinObject`` is one object instance in one frame; ``id`` is its track id, stable
across the frames of a ``Twin``. Masks are COCO RLE. Everything round-trips through
JSON losslessly (``to_dict``/``from_dict``); floats are stored as Python floats, so
``json.dumps`` → ``json.loads`` restores them bit for bit.

Whatever builds a twin (perception, JSON, a Twin message) goes through the same checks
(``frs_ros.validation``): ids and parents are ROS ``int32``, frame indices and sizes
``uint32``, every number is finite (so the JSON is always valid JSON), each mask is a
consistent RLE of the frame's size. ``from_dict`` also checks the JSON's types and names the
offending field (``frames[2].objects[0].mask``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from frs_ros import validation
from frs_ros.twin import rle as rle_utils
from frs_ros.twin.geometry import (
    CameraIntrinsics,
    DepthSource,
    DepthStats,
    centroid_3d,
    depth_stats,
)
from frs_ros.twin.rle import RLE

Level = Literal["group", "object", "part"]
LEVELS: tuple[str, ...] = ("group", "object", "part")
BBox = tuple[float, float, float, float]

SCHEMA_VERSION = 1


class UnknownObjectError(KeyError):
    """An object id that is not in the frame/twin was asked for."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown object"


@dataclass(frozen=True)
class TwinObject:
    id: int
    label: str
    score: float
    bbox: BBox
    mask: RLE
    area: int
    area_ratio: float
    centroid: tuple[float, float]
    depth: DepthStats | None = None
    centroid_3d: tuple[float, float, float] | None = None
    level: Level = "object"
    parent: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"object {self.id}"
        validation.integer(self.id, f"{where} id", validation.INT32_MIN, validation.INT32_MAX)
        if self.parent is not None:
            validation.integer(
                self.parent, f"{where} parent", validation.INT32_MIN, validation.INT32_MAX
            )
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")
        if not 0.0 <= self.score <= 1.0 or math.isnan(self.score):
            raise ValueError(f"score must be in [0, 1], got {self.score}")
        validation.rle(self.mask, f"{where} mask")
        for name in ("bbox", "centroid", "centroid_3d"):
            for v in getattr(self, name) or ():
                validation.number(v, f"{where} {name}")
        validation.number(self.area_ratio, f"{where} area_ratio", 0.0, 1.0)
        x0, y0, x1, y1 = self.bbox
        if not (x0 <= x1 and y0 <= y1):
            raise ValueError(f"bbox must be (x_min, y_min, x_max, y_max), got {self.bbox}")

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the image the mask lives in."""
        return (int(self.mask["size"][0]), int(self.mask["size"][1]))

    def decode_mask(self) -> np.ndarray:
        return rle_utils.decode(self.mask)

    @classmethod
    def from_mask(
        cls,
        id: int,
        label: str,
        score: float,
        mask: np.ndarray,
        *,
        depth: np.ndarray | None = None,
        depth_source: DepthSource = "relative",
        intrinsics: CameraIntrinsics | None = None,
        bbox: BBox | None = None,
        level: Level = "object",
        parent: int | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> TwinObject:
        """Build an object from a binary mask, computing every derived field.

        ``bbox`` defaults to the mask's tight box; a given box (e.g. the detector's) is
        clipped to the image. An empty mask is rejected: an object without pixels cannot
        be segmented, referenced or measured.
        """
        mask = rle_utils._check_mask(mask).astype(bool)
        h, w = mask.shape
        n = int(mask.sum())
        if n == 0:
            raise ValueError(f"object {id} ({label!r}) has an empty mask")
        ys, xs = np.nonzero(mask)
        centroid = (float(xs.mean()), float(ys.mean()))
        if bbox is None:
            bbox = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        else:
            bbox = clip_bbox(bbox, (h, w))
        stats = depth_stats(mask, depth, depth_source) if depth is not None else None
        return cls(
            id=int(id),
            label=str(label),
            score=float(score),
            bbox=bbox,
            mask=rle_utils.encode(mask),
            area=n,
            area_ratio=n / float(h * w),
            centroid=centroid,
            depth=stats,
            centroid_3d=centroid_3d(centroid, stats, intrinsics),
            level=level,
            parent=parent,
            attributes=dict(attributes or {}),
        )

    def with_id(self, new_id: int) -> TwinObject:
        return replace(self, id=int(new_id))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bbox"] = list(self.bbox)
        d["centroid"] = list(self.centroid)
        d["centroid_3d"] = list(self.centroid_3d) if self.centroid_3d is not None else None
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "object") -> TwinObject:
        """From its JSON form; wrong types or values are a ValueError naming the field."""
        d = validation.mapping(d, where)

        def get(key: str) -> Any:
            return validation.field(d, key, where)

        def numbers(key: str, n: int) -> tuple[float, ...]:
            items = validation.sequence(get(key), f"{where}.{key}", n)
            return tuple(validation.number(v, f"{where}.{key}") for v in items)

        depth, c3, parent = d.get("depth"), d.get("centroid_3d"), d.get("parent")
        attributes = validation.mapping(d.get("attributes") or {}, f"{where}.attributes")
        if parent is not None:
            parent = validation.integer(parent, f"{where}.parent")
        label, level = get("label"), d.get("level", "object")
        for key, text in (("label", label), ("level", level)):
            if not isinstance(text, str):
                raise ValueError(f"{where}.{key}: must be a string, got {type(text).__name__}")
        try:
            # the ignores: numbers() checks each length and validation.rle() the RLE, but
            # they return tuple[float, ...] and dict[str, Any], not the fields' exact types
            return cls(
                id=validation.integer(get("id"), f"{where}.id"),
                label=label,
                score=validation.number(get("score"), f"{where}.score"),
                bbox=numbers("bbox", 4),  # type: ignore[arg-type]
                mask=validation.rle(get("mask"), f"{where}.mask"),  # type: ignore[arg-type]
                area=validation.integer(get("area"), f"{where}.area", 0),
                area_ratio=validation.number(get("area_ratio"), f"{where}.area_ratio"),
                centroid=numbers("centroid", 2),  # type: ignore[arg-type]
                depth=_depth_from_dict(depth, f"{where}.depth") if depth is not None else None,
                centroid_3d=numbers("centroid_3d", 3) if c3 is not None else None,  # type: ignore[arg-type]
                level=level,
                parent=parent,
                attributes=dict(attributes),
            )
        except ValueError as exc:
            msg = str(exc)
            raise ValueError(msg if msg.startswith(where) else f"{where}: {msg}") from None


def _depth_from_dict(d: Any, where: str) -> DepthStats:
    d = validation.mapping(d, where)
    known = {"mean", "var", "median", "min", "max", "source", "valid_ratio"}
    if unknown := sorted(set(d) - known, key=str):
        raise ValueError(f"{where}: unknown key(s) {unknown}")
    values: dict[str, Any] = {
        k: validation.number(validation.field(d, k, where), f"{where}.{k}")
        for k in ("mean", "var", "median", "min", "max")
    }
    if "valid_ratio" in d:
        values["valid_ratio"] = validation.number(d["valid_ratio"], f"{where}.valid_ratio", 0, 1)
    return DepthStats(source=validation.field(d, "source", where), **values)


def clip_bbox(bbox: BBox, size: tuple[int, int]) -> BBox:
    """Clip a box to an image of ``size`` (h, w). A box wholly outside is an error."""
    h, w = size
    x0, y0, x1, y1 = (float(v) for v in bbox)
    if any(math.isnan(v) for v in (x0, y0, x1, y1)):
        raise ValueError(f"bbox has NaN coordinates: {bbox}")
    if x1 < x0 or y1 < y0:
        raise ValueError(f"bbox must be (x_min, y_min, x_max, y_max), got {bbox}")
    cx0, cy0 = min(max(x0, 0.0), w), min(max(y0, 0.0), h)
    cx1, cy1 = min(max(x1, 0.0), w), min(max(y1, 0.0), h)
    if cx1 <= cx0 or cy1 <= cy0:
        raise ValueError(f"bbox {bbox} lies outside the {w}x{h} image")
    return (cx0, cy0, cx1, cy1)


@dataclass
class FrameTwin:
    """The objects seen in one frame. ``stamp`` is seconds (ROS time as float)."""

    index: int
    stamp: float
    width: int
    height: int
    objects: list[TwinObject] = field(default_factory=list)
    frame_id: str = ""

    def __post_init__(self) -> None:
        validation.integer(self.index, "frame index", 0, validation.UINT32_MAX)
        validation.number(self.stamp, f"frame {self.index} stamp", 0.0)
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"frame size must be positive, got {self.width}x{self.height}")
        validation.mask_size([self.height, self.width], f"frame {self.index}")
        seen: set[int] = set()
        for obj in self.objects:
            if obj.size != (self.height, self.width):
                raise ValueError(
                    f"object {obj.id} mask is {obj.size[1]}x{obj.size[0]}, "
                    f"frame is {self.width}x{self.height}"
                )
            if obj.id in seen:
                raise ValueError(f"duplicate object id {obj.id} in frame {self.index}")
            seen.add(obj.id)

    @property
    def ids(self) -> list[int]:
        return [o.id for o in self.objects]

    def get(self, obj_id: int) -> TwinObject | None:
        for o in self.objects:
            if o.id == obj_id:
                return o
        return None

    def object(self, obj_id: int) -> TwinObject:
        obj = self.get(obj_id)
        if obj is None:
            raise UnknownObjectError(
                f"object {obj_id} is not in frame {self.index} (ids: {self.ids})"
            )
        return obj

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "stamp": self.stamp,
            "width": self.width,
            "height": self.height,
            "frame_id": self.frame_id,
            "objects": [o.to_dict() for o in self.objects],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "frame") -> FrameTwin:
        """From its JSON form; wrong types or values are a ValueError naming the field."""
        d = validation.mapping(d, where)

        def get(key: str) -> Any:
            return validation.field(d, key, where)

        frame_id = d.get("frame_id", "")
        if not isinstance(frame_id, str):
            raise ValueError(f"{where}.frame_id: must be a string, got {type(frame_id).__name__}")
        objects = validation.sequence(get("objects"), f"{where}.objects")
        try:
            return cls(
                index=validation.integer(get("index"), f"{where}.index"),
                stamp=validation.number(get("stamp"), f"{where}.stamp"),
                width=validation.integer(get("width"), f"{where}.width"),
                height=validation.integer(get("height"), f"{where}.height"),
                frame_id=frame_id,
                objects=[
                    TwinObject.from_dict(o, f"{where}.objects[{i}]") for i, o in enumerate(objects)
                ],
            )
        except ValueError as exc:
            msg = str(exc)
            raise ValueError(msg if msg.startswith(where) else f"{where}: {msg}") from None


@dataclass
class Twin:
    """A window of frame twins, oldest first (T = 1 for a still image)."""

    frames: list[FrameTwin] = field(default_factory=list)

    def __post_init__(self) -> None:
        indices = [f.index for f in self.frames]
        if indices != sorted(indices) or len(set(indices)) != len(indices):
            raise ValueError(f"frames must be in strictly increasing index order, got {indices}")

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[FrameTwin]:
        return iter(self.frames)

    @property
    def latest(self) -> FrameTwin:
        if not self.frames:
            raise ValueError("the twin has no frames yet")
        return self.frames[-1]

    @property
    def ids(self) -> list[int]:
        """Every track id in the window, sorted."""
        return sorted({o.id for f in self.frames for o in f.objects})

    def track(self, obj_id: int) -> list[tuple[FrameTwin, TwinObject]]:
        """The frames (oldest first) in which track ``obj_id`` appears, with its object."""
        out = [(f, o) for f in self.frames if (o := f.get(obj_id)) is not None]
        if not out:
            raise UnknownObjectError(f"object {obj_id} is not in the twin (ids: {self.ids})")
        return out

    def tracks(self) -> dict[int, list[tuple[FrameTwin, TwinObject]]]:
        out: dict[int, list[tuple[FrameTwin, TwinObject]]] = {}
        for f in self.frames:
            for o in f.objects:
                out.setdefault(o.id, []).append((f, o))
        return out

    def last_seen(self, obj_id: int) -> TwinObject:
        return self.track(obj_id)[-1][1]

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, "frames": [f.to_dict() for f in self.frames]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "twin") -> Twin:
        """From its JSON form; wrong types or values are a ValueError naming the field,
        e.g. ``twin: frames: must be a JSON array, got dict``."""
        d = validation.mapping(d, where)
        schema = d.get("schema", SCHEMA_VERSION)
        if schema != SCHEMA_VERSION:
            raise ValueError(
                f"{where}: unsupported twin schema {schema!r:.20} (this build reads "
                f"{SCHEMA_VERSION})"
            )
        frames = validation.sequence(validation.field(d, "frames", where), f"{where}: frames")
        try:
            return cls(
                frames=[FrameTwin.from_dict(f, f"frames[{i}]") for i, f in enumerate(frames)]
            )
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None

    def to_json(self, indent: int | None = None) -> str:
        # allow_nan=False: the checks above keep every number finite; should one slip
        # through, writing fails instead of producing a file that is not JSON.
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str, where: str = "twin") -> Twin:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON: {exc}") from None
        return cls.from_dict(data, where)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Twin:
        """A twin JSON file (``frs twin --form json``, ``--twin``); errors name the file."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"twin file {p} does not exist")
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"twin file {p}: not UTF-8 text ({exc.reason})") from None
        return cls.from_json(text, where=f"twin file {p}")
