"""Prompt forms of a twin (docs/DESIGN.md §3).

``to_verbose`` is the paper-style JSON of FastReasonSeg eq. (1): one entry per object per
frame with its mask (RLE), depth statistics, mean depth and semantic label (plus box and
score). ``to_compact`` is what the reasoner actually reads: short keys, rounded numbers,
masks referenced only by id, and one entry per *track* with a temporal summary instead of
repeating a static object in every frame. ``benchmarks/twin_tokens.py`` compares the two.

Compact keys (listed in the reasoner's system prompt, ``frs_ros.reasoning.prompt``):
``img`` [w, h]; ``T`` frames in the window; ``fr`` [first, last] frame index; ``depth``
``rel`` (0 near .. 1 far) or ``m`` (metres); per object: ``id``, ``lb`` label, ``sc``
score, ``bb`` [x0, y0, x1, y1] px at last sighting, ``ar`` area % of the image, ``c``
centroid px, ``d`` median depth, ``p3`` 3-D centroid (m), ``lv``/``pa`` level/parent when
not a plain object, and for video ``f`` [first, last] frame seen, ``n`` frames seen,
``mv`` centroid displacement [dx, dy] px first→last, ``gone`` true if absent from the
latest frame.
"""

from __future__ import annotations

import json
from typing import Any

from frs_ros.twin.model import Twin, TwinObject


def _r(v: float, nd: int = 0) -> float | int:
    return round(v) if nd == 0 else round(float(v), nd)


def _depth_key(twin: Twin) -> str | None:
    sources = {o.depth.source for f in twin.frames for o in f.objects if o.depth is not None}
    if not sources:
        return None
    return "m" if sources == {"metric"} else "rel" if sources == {"relative"} else "mixed"


def _compact_object(obj: TwinObject) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": obj.id,
        "lb": obj.label,
        "sc": _r(obj.score, 2),
        "bb": [_r(v) for v in obj.bbox],
        "ar": _r(obj.area_ratio * 100, 1),
        "c": [_r(v) for v in obj.centroid],
    }
    if obj.depth is not None:
        d["d"] = _r(obj.depth.median, 2)
    if obj.centroid_3d is not None:
        d["p3"] = [_r(v, 2) for v in obj.centroid_3d]
    if obj.level != "object":
        d["lv"] = obj.level
    if obj.parent is not None:
        d["pa"] = obj.parent
    return d


def compact_dict(twin: Twin) -> dict[str, Any]:
    """The compact form as a dict (see module docstring for the keys)."""
    if not twin.frames:
        return {"T": 0, "objs": []}
    first, last = twin.frames[0], twin.frames[-1]
    out: dict[str, Any] = {"img": [last.width, last.height], "T": len(twin)}
    if len(twin) > 1:
        out["fr"] = [first.index, last.index]
    depth = _depth_key(twin)
    if depth:
        out["depth"] = depth
    objs = []
    for _obj_id, track in sorted(twin.tracks().items()):
        (f0, o0), (f1, o1) = track[0], track[-1]
        d = _compact_object(o1)
        if len(twin) > 1:
            d["f"] = [f0.index, f1.index]
            d["n"] = len(track)
            d["mv"] = [_r(o1.centroid[0] - o0.centroid[0]), _r(o1.centroid[1] - o0.centroid[1])]
            if f1 is not last:
                d["gone"] = True
        objs.append(d)
    out["objs"] = objs
    return out


def to_compact(twin: Twin) -> str:
    return json.dumps(
        compact_dict(twin), separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def verbose_dict(twin: Twin) -> dict[str, Any]:
    """Paper-style eq. (1): ``{t: {i: {mask, depth_stats, mean_depth, semantic_label}}}``."""
    frames = {}
    for f in twin.frames:
        objs = {}
        for o in f.objects:
            stats = None
            if o.depth is not None:
                stats = {k: getattr(o.depth, k) for k in ("mean", "var", "median", "min", "max")}
                stats["source"] = o.depth.source
            objs[str(o.id)] = {
                "mask": o.mask,
                "depth_stats": stats,
                "mean_depth": o.depth.mean if o.depth is not None else None,
                "semantic_label": o.label,
                "score": o.score,
                "bbox": list(o.bbox),
            }
        frames[str(f.index)] = objs
    return frames


def to_verbose(twin: Twin) -> str:
    return json.dumps(verbose_dict(twin), indent=2, ensure_ascii=False, allow_nan=False)
