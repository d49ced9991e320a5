"""Whitelisted tools the reasoner may call in a ``<plan>`` (docs/DESIGN.md §4).

Every tool is a pure function over the twin with declared, validated parameters; the
model never gets code executed. ``ToolRegistry.call`` turns any failure (unknown tool,
bad or missing argument, unknown id) into an ``{"error": ...}`` entry, never an exception.

Conventions shared by all tools:
- Spatial tools look at the *latest frame in which all the named objects appear*, unless a
  ``frame`` index is given. Coordinates are pixels; 3-D positions metres (camera frame).
- An id argument also accepts ``"prev"``: the (first) id answered by the previous query,
  so follow-ups like "the one to its left" can be planned; id lists accept ``"prev"`` too.
- Depth grows with distance (``frs_ros.twin.geometry``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from frs_ros.reasoning.protocol import INT32_MAX, INT32_MIN
from frs_ros.twin import FrameTwin, Twin, TwinObject, UnknownObjectError, relations
from frs_ros.twin.rle import intersection_area


class ToolError(ValueError):
    """A tool call that cannot be answered (bad argument, unknown id, missing data)."""


@dataclass(frozen=True)
class Param:
    kind: str  # id | ids | str | labels | int | float | choice
    description: str
    required: bool = True
    choices: tuple[str, ...] = ()
    default: Any = None


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    params: dict[str, Param]
    fn: Callable[..., Any]

    def signature(self) -> str:
        parts = [f"{n}{'' if p.required else '?'}: {_kind_text(p)}" for n, p in self.params.items()]
        return f"{self.name}({', '.join(parts)})"


def _kind_text(p: Param) -> str:
    if p.kind == "choice":
        return "|".join(repr(c) for c in p.choices)
    return "str|[str]" if p.kind == "labels" else p.kind


@dataclass
class ToolContext:
    """What a tool sees: the twin and the previous answer (for ``"prev"``)."""

    twin: Twin
    previous_ids: list[int] = field(default_factory=list)

    def frame_with(self, ids: list[int], frame: int | None = None) -> FrameTwin:
        if frame is not None:
            for f in self.twin.frames:
                if f.index == frame:
                    for i in ids:
                        f.object(i)  # raises a clear UnknownObjectError
                    return f
            raise ToolError(f"frame {frame} is not in the window {[f.index for f in self.twin]}")
        for f in reversed(self.twin.frames):
            if all(f.get(i) is not None for i in ids):
                return f
        raise ToolError(f"objects {ids} never appear together in one frame")


_Fn = TypeVar("_Fn", bound=Callable[..., Any])


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, name: str, description: str, **params: Param) -> Callable[[_Fn], _Fn]:
        def deco(fn: _Fn) -> _Fn:
            if name in self._tools:
                raise ValueError(f"tool {name!r} registered twice")
            self._tools[name] = Tool(name, description, params, fn)
            return fn

        return deco

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def describe(self) -> str:
        """One line per tool, for the system prompt."""
        return "\n".join(f"- {t.signature()}: {t.description}" for t in self._tools.values())

    def call(self, ctx: ToolContext, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run one call; the entry always has ``tool`` and either ``ok`` or ``error``."""
        entry: dict[str, Any] = {"tool": name}
        tool = self._tools.get(name)
        if tool is None:
            entry["error"] = f"unknown tool {name!r}; available: {', '.join(self._tools)}"
            return entry
        try:
            kwargs = self._validate(ctx, tool, args)
            entry["ok"] = tool.fn(ctx, **kwargs)
        # ArithmeticError too: a hostile argument (e.g. from the Python API) must come back
        # to the model as data, never end the rollout
        except (ToolError, UnknownObjectError, ValueError, TypeError, ArithmeticError) as exc:
            entry["error"] = f"{name}: {exc}"
        return entry

    def _validate(self, ctx: ToolContext, tool: Tool, args: dict[str, Any]) -> dict[str, Any]:
        unknown = set(args) - set(tool.params)
        if unknown:
            raise ToolError(f"unknown argument(s) {sorted(unknown)}; expected {tool.signature()}")
        out = {}
        for pname, p in tool.params.items():
            if pname not in args or args[pname] is None:
                if p.required:
                    raise ToolError(f"missing argument {pname!r}; expected {tool.signature()}")
                out[pname] = p.default
                continue
            out[pname] = _coerce(ctx, pname, p, args[pname])
        return out


def _as_int(name: str, v: Any) -> int:
    # isfinite first: int(inf) raises OverflowError, int(nan) ValueError
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ToolError(f"argument {name!r} must be an integer, got {_short(v)}")
    if isinstance(v, float) and not math.isfinite(v):
        raise ToolError(f"argument {name!r} must be an integer, got {_short(v)}")
    if v != int(v) or not INT32_MIN <= v <= INT32_MAX:
        raise ToolError(f"argument {name!r} must be an int32 integer, got {_short(v)}")
    return int(v)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _coerce(ctx: ToolContext, name: str, p: Param, v: Any) -> Any:
    if p.kind == "id":
        if v == "prev":
            if not ctx.previous_ids:
                raise ToolError("'prev' used but there is no previous answer")
            return ctx.previous_ids[0]
        obj_id = _as_int(name, v)
        ctx.twin.track(obj_id)  # unknown id -> UnknownObjectError with the known ids
        return obj_id
    if p.kind == "ids":
        items = [v] if v == "prev" else v
        if not isinstance(items, list):
            raise ToolError(f"argument {name!r} must be a list of ids, got {v!r}")
        ids: list[int] = []
        for x in items:
            ids.extend(ctx.previous_ids if x == "prev" else [_coerce(ctx, name, _ID, x)])
        return ids
    if p.kind == "int":
        return _as_int(name, v)
    if p.kind == "float":
        if isinstance(v, bool) or not isinstance(v, int | float) or abs(v) > 1e300:
            raise ToolError(f"argument {name!r} must be a finite number, got {_short(v)}")
        if not math.isfinite(v):  # nan fails every comparison, so also check here
            raise ToolError(f"argument {name!r} must be a finite number, got {_short(v)}")
        return float(v)
    if p.kind == "str":
        if not isinstance(v, str) or not v.strip():
            raise ToolError(f"argument {name!r} must be a non-empty string, got {v!r}")
        return v.strip()
    if p.kind == "labels":
        items = [v] if isinstance(v, str) else v
        if not isinstance(items, list) or not items:
            raise ToolError(
                f"argument {name!r} must be a label or a list of labels, got {_short(v)}"
            )
        return [_coerce(ctx, name, _LABEL, x) for x in items]
    if p.kind == "choice":
        if v not in p.choices:
            raise ToolError(f"argument {name!r} must be one of {list(p.choices)}, got {v!r}")
        return v
    raise AssertionError(f"unknown parameter kind {p.kind}")  # registry bug, not model input


# --------------------------------------------------------------------------- tools

TOOLS = ToolRegistry()
_ID = Param("id", "object id")
_FRAME = Param("int", "frame index (default: latest frame with the objects)", required=False)
_LABEL = Param("str", "label")
_LABEL_OPT = Param("str", "only objects with this label", required=False)


def _r(v: float, nd: int = 2) -> float:
    return round(float(v), nd)


def _candidates(ctx: ToolContext, label: str | None, ids: list[int] | None) -> list[int]:
    pool = ids if ids is not None else ctx.twin.ids
    if label is not None:
        pool = [i for i in pool if _label_matches(ctx.twin.last_seen(i).label, label)]
    return pool


def _label_matches(label: str, query: str) -> bool:
    return label.lower() == query.lower() or label.lower().rstrip("s") == query.lower().rstrip("s")


# A list of labels is one call, not one call per label: a semantic query names up to
# eight kinds, and one call per kind was most of a student's generated tokens
# (docs/cpu.md, "Where a second query's time goes").
@TOOLS.register(
    "find",
    "ids of objects whose label matches (singular/plural agnostic); a list matches any",
    label=Param("labels", "a label or a list of labels"),
)
def find(ctx: ToolContext, label: list[str]) -> list[int]:
    return [
        i
        for i in ctx.twin.ids
        if any(_label_matches(ctx.twin.last_seen(i).label, q) for q in label)
    ]


@TOOLS.register("count", "number of objects with a label in the window", label=_LABEL)
def count(ctx: ToolContext, label: str) -> int:
    return len(_candidates(ctx, label, None))


@TOOLS.register("size", "area (px and % of image) and box size of an object", id=_ID, frame=_FRAME)
def size(ctx: ToolContext, id: int, frame: int | None) -> dict[str, Any]:
    o = ctx.frame_with([id], frame).object(id)
    return {
        "area_px": o.area,
        "area_pct": _r(o.area_ratio * 100),
        "w": _r(o.bbox[2] - o.bbox[0], 1),
        "h": _r(o.bbox[3] - o.bbox[1], 1),
    }


@TOOLS.register(
    "size_rank",
    "ids sorted by area, largest first (or 'asc')",
    ids=Param("ids", "candidate ids (default all)", required=False),
    label=_LABEL_OPT,
    order=Param("choice", "", required=False, choices=("desc", "asc"), default="desc"),
)
def size_rank(
    ctx: ToolContext, ids: list[int] | None, label: str | None, order: str
) -> list[list[int]]:
    pool = _candidates(ctx, label, ids)
    ranked = sorted(pool, key=lambda i: (ctx.twin.last_seen(i).area, -i), reverse=order == "desc")
    return [[i, ctx.twin.last_seen(i).area] for i in ranked]


def _region(o: TwinObject) -> str:
    h, w = o.size
    col = ("left", "center", "right")[min(int(3 * o.centroid[0] / w), 2)]
    row = ("top", "middle", "bottom")[min(int(3 * o.centroid[1] / h), 2)]
    return f"{row}-{col}"


@TOOLS.register(
    "position", "centroid, box, image region and 3-D position of an object", id=_ID, frame=_FRAME
)
def position(ctx: ToolContext, id: int, frame: int | None) -> dict[str, Any]:
    o = ctx.frame_with([id], frame).object(id)
    out: dict[str, Any] = {
        "c": [_r(v, 1) for v in o.centroid],
        "bb": [_r(v, 1) for v in o.bbox],
        "region": _region(o),
    }
    if o.centroid_3d is not None:
        out["p3"] = [_r(v) for v in o.centroid_3d]
    return out


@TOOLS.register(
    "relation",
    "spatial relations of a to b: left_of/right_of/above/below/"
    "inside/surrounding/overlapping/nearer/farther",
    a=_ID,
    b=_ID,
    frame=_FRAME,
)
def relation(ctx: ToolContext, a: int, b: int, frame: int | None) -> list[str]:
    if a == b:
        raise ToolError("a and b must be different objects")
    f = ctx.frame_with([a, b], frame)
    return relations(f.object(a), f.object(b))


@TOOLS.register(
    "overlap",
    "pixel overlap of a and b: IoU, fraction of a in b, of b in a",
    a=_ID,
    b=_ID,
    frame=_FRAME,
)
def overlap(ctx: ToolContext, a: int, b: int, frame: int | None) -> dict[str, Any]:
    f = ctx.frame_with([a, b], frame)
    oa, ob = f.object(a), f.object(b)
    inter = intersection_area(oa.mask, ob.mask)
    union = oa.area + ob.area - inter
    return {
        "iou": _r(inter / union, 4),
        "a_in_b": _r(inter / oa.area, 4),
        "b_in_a": _r(inter / ob.area, 4),
    }


def _depth(o: TwinObject) -> float:
    if o.depth is None:
        raise ToolError(f"object {o.id} has no depth")
    return o.depth.median


@TOOLS.register(
    "depth_order",
    "ids sorted nearest to farthest from the camera (median depth)",
    ids=Param("ids", "candidate ids (default all)", required=False),
    label=_LABEL_OPT,
)
def depth_order(ctx: ToolContext, ids: list[int] | None, label: str | None) -> list[list[float]]:
    objs = [ctx.twin.last_seen(i) for i in _candidates(ctx, label, ids)]
    return [[o.id, _r(_depth(o), 3)] for o in sorted(objs, key=lambda o: (_depth(o), o.id))]


def _distance(a: TwinObject, b: TwinObject) -> tuple[float, str]:
    """3-D distance (m) when both have 3-D centroids, else 2-D centroid distance (px)."""
    if a.centroid_3d is not None and b.centroid_3d is not None:
        return math.dist(a.centroid_3d, b.centroid_3d), "m"
    return math.dist(a.centroid, b.centroid), "px"


def _ranked_by_distance(
    ctx: ToolContext, to: str, label: str | None
) -> list[tuple[float, int, str]]:
    if to == "camera":
        objs = [ctx.twin.last_seen(i) for i in _candidates(ctx, label, None)]
        return sorted((_depth(o), o.id, "depth") for o in objs)
    ref = _coerce(ctx, "to", _ID, _id_or_prev(to))
    out = []
    for i in _candidates(ctx, label, None):
        if i == ref:
            continue
        try:
            f = ctx.frame_with([i, ref])
        except ToolError:
            continue  # never seen together: no distance
        d, unit = _distance(f.object(i), f.object(ref))
        out.append((d, i, unit))
    return sorted(out)


def _id_or_prev(v: str) -> int | str:
    if v == "prev":
        return v
    try:
        return int(v)
    except ValueError:
        raise ToolError(f"'to' must be 'camera', 'prev' or an object id, got {_short(v)}") from None


_TO = Param("str", "'camera', 'prev' or an object id")


@TOOLS.register(
    "nearest",
    "objects sorted by distance to the camera or to an object, nearest first (3-D when available)",
    to=_TO,
    label=_LABEL_OPT,
)
def nearest(ctx: ToolContext, to: str, label: str | None) -> list[list[float | str]]:
    return [[i, _r(d, 3), unit] for d, i, unit in _ranked_by_distance(ctx, str(to), label)]


@TOOLS.register("farthest", "like nearest, farthest first", to=_TO, label=_LABEL_OPT)
def farthest(ctx: ToolContext, to: str, label: str | None) -> list[list[float | str]]:
    return list(reversed(nearest(ctx, to, label)))


# -- temporal tools: over the track of an object in the window


def _seconds(ctx: ToolContext, f0: FrameTwin, f1: FrameTwin) -> float:
    return max(f1.stamp - f0.stamp, 0.0)


@TOOLS.register(
    "seen", "first/last frame and time an object was seen, and in how many frames", id=_ID
)
def seen(ctx: ToolContext, id: int) -> dict[str, Any]:
    track = ctx.twin.track(id)
    (f0, _), (f1, _) = track[0], track[-1]
    return {
        "first": f0.index,
        "last": f1.index,
        "t_first": _r(f0.stamp, 3),
        "t_last": _r(f1.stamp, 3),
        "frames": len(track),
        "in_latest": f1 is ctx.twin.latest,
    }


@TOOLS.register(
    "displacement", "how far an object moved between its first and last sighting", id=_ID
)
def displacement(ctx: ToolContext, id: int) -> dict[str, Any]:
    track = ctx.twin.track(id)
    o0, o1 = track[0][1], track[-1][1]
    out = {
        "px": _r(math.dist(o0.centroid, o1.centroid), 1),
        "dx": _r(o1.centroid[0] - o0.centroid[0], 1),
        "dy": _r(o1.centroid[1] - o0.centroid[1], 1),
    }
    if o0.centroid_3d is not None and o1.centroid_3d is not None:
        out["m"] = _r(math.dist(o0.centroid_3d, o1.centroid_3d), 3)
    return out


@TOOLS.register("speed", "mean speed of an object over its track (px/s, and m/s in 3-D)", id=_ID)
def speed(ctx: ToolContext, id: int) -> dict[str, Any]:
    track = ctx.twin.track(id)
    dt = _seconds(ctx, track[0][0], track[-1][0])
    if dt == 0:
        raise ToolError(f"object {id} was seen at a single instant; speed is undefined")
    d = displacement(ctx, id)
    out = {"px_s": _r(d["px"] / dt, 2)}
    if "m" in d:
        out["m_s"] = _r(d["m"] / dt, 3)
    return out


@TOOLS.register(
    "moved",
    "ids whose centroid moved more than min_px (default 10) in the window",
    min_px=Param("float", "threshold in px", required=False, default=10.0),
)
def moved(ctx: ToolContext, min_px: float) -> list[int]:
    return [i for i in ctx.twin.ids if displacement(ctx, i)["px"] > min_px]


@TOOLS.register("appeared", "ids absent from the first frame of the window that appear later")
def appeared(ctx: ToolContext) -> list[int]:
    first = set(ctx.twin.frames[0].ids) if ctx.twin.frames else set()
    return [i for i in ctx.twin.ids if i not in first]


@TOOLS.register("disappeared", "ids seen earlier in the window but not in the latest frame")
def disappeared(ctx: ToolContext) -> list[int]:
    latest = set(ctx.twin.latest.ids)
    return [i for i in ctx.twin.ids if i not in latest]


@TOOLS.register(
    "approach",
    "distance between a and b when first and last seen together, and "
    "whether a approached or left b",
    a=_ID,
    b=_ID,
)
def approach(ctx: ToolContext, a: int, b: int) -> dict[str, Any]:
    if a == b:
        raise ToolError("a and b must be different objects")
    together = [f for f in ctx.twin.frames if f.get(a) is not None and f.get(b) is not None]
    if not together:
        raise ToolError(f"objects {a} and {b} never appear together")
    d0, unit = _distance(together[0].object(a), together[0].object(b))
    d1, _ = _distance(together[-1].object(a), together[-1].object(b))
    tol = 0.05 * max(d0, d1, 1e-9)
    verdict = "approached" if d1 < d0 - tol else "left" if d1 > d0 + tol else "unchanged"
    return {"start": _r(d0, 3), "end": _r(d1, 3), "unit": unit, "verdict": verdict}
