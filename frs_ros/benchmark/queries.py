"""Query templates and their oracle reasoning chains.

A template looks at a scene's twin and either declines (``None``) or returns a query with
its answer. It never computes the answer on its own: it *plans* tool calls, the
:class:`ChainBuilder` runs them through the real tool registry and writes the exact
``<plan>``/``<results>`` text the engine would, and the template derives the answer from
the tool results. So the oracle chain is replayable by the engine by construction, and
ground truth means "what the twin's measurements say" (with margins: a ranking whose top
two are nearly tied is declined, so the answer is never a coin flip).

Levels count reasoning steps (docs/benchmark.md): each step is a piece of
functional knowledge, a relation/motion test, or a ranking.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from frs_ros.benchmark.vocabulary import (
    KIND_BY_NAME,
    PROPERTIES,
    PROPERTY_PHRASES,
    PROPERTY_REASONS,
    kinds_with,
)
from frs_ros.reasoning.engine import ReasonerConfig
from frs_ros.reasoning.protocol import check_format, format_answer, format_results
from frs_ros.reasoning.tools import TOOLS, ToolContext
from frs_ros.twin import Twin

_LIMITS = ReasonerConfig()  # the engine's default bounds: oracle chains must fit them

#: Noun phrases of the properties, for composed queries ("the largest thing I could eat").
PROPERTY_NOUNS: dict[str, str] = {
    "holds_hot_liquid": "thing I could pour hot tea into",
    "holds_liquid": "thing that could hold water",
    "cuts": "thing I could cut bread with",
    "hot": "thing that could burn my hand",
    "sharp": "sharp thing",
    "child_unsafe": "thing a small child must not touch",
    "edible": "thing I could eat",
    "electronic": "electronic device",
    "container": "thing I could store small items in",
    "sittable": "thing I could sit on",
    "readable": "thing I could read",
}
RELATION_WORDS = {
    "left_of": "left of",
    "right_of": "right of",
    "above": "above",
    "below": "below",
    "inside": "inside",
}


class ChainError(RuntimeError):
    """A planned tool call failed: a template bug, never a property of the scene."""


@dataclass(frozen=True)
class Query:
    text: str
    category: str
    level: int
    negative: bool
    ids: list[int]
    chain: str
    template: str


class ChainBuilder:
    """Writes an oracle chain by executing its plans with the real tools."""

    def __init__(self, twin: Twin) -> None:
        self.ctx = ToolContext(twin, [])
        self.parts: list[str] = []

    def reason(self, text: str) -> None:
        self.parts.append(f"<reason>{text}</reason>")

    def plan(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        """Run one round of calls; returns each call's ``ok`` value."""
        if not 0 < len(calls) <= _LIMITS.max_calls_per_plan:
            raise ChainError(
                f"a plan needs 1..{_LIMITS.max_calls_per_plan} calls, got {len(calls)}"
            )
        entries = [TOOLS.call(self.ctx, name, args) for name, args in calls]
        for entry in entries:
            if "error" in entry:
                raise ChainError(entry["error"])
        results = format_results(entries)
        if len(results) > _LIMITS.max_results_chars:
            raise ChainError(f"results block of {len(results)} chars exceeds the engine's limit")
        body = json.dumps([{"tool": name, "args": args} for name, args in calls])
        self.parts.append(f"<plan>{body}</plan>")
        self.parts.append(results)
        return [entry["ok"] for entry in entries]

    @property
    def rounds(self) -> int:
        return sum(p.startswith("<plan>") for p in self.parts)

    def finish(self, ids: list[int]) -> str:
        if self.rounds > _LIMITS.max_rounds:
            raise ChainError(f"{self.rounds} rounds exceed the engine's {_LIMITS.max_rounds}")
        chain = "".join(self.parts) + format_answer(sorted(ids))
        if not check_format(chain):
            raise ChainError(f"oracle chain breaks the protocol: {chain[:200]}")
        return chain


# ------------------------------------------------------------------ scene facts


def _labels(twin: Twin) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for obj_id in twin.ids:
        out.setdefault(twin.last_seen(obj_id).label, []).append(obj_id)
    return out


def _with_prop(twin: Twin, prop: str) -> list[int]:
    return [i for i in twin.ids if KIND_BY_NAME[twin.last_seen(i).label].has(prop)]


def _unique_labels(twin: Twin) -> list[str]:
    return sorted(lb for lb, ids in _labels(twin).items() if len(ids) == 1)


def _clear_first(values: list[float], rel: float = 0.15) -> bool:
    """The best value beats the runner-up by a clear margin (no coin-flip answers)."""
    if len(values) < 2:
        return True
    a, b = abs(values[0]), abs(values[1])
    return abs(a - b) > rel * max(a, b, 1e-9)


def _find(labels: list[str]) -> tuple[str, dict[str, Any]]:
    """One ``find`` call for every label (a list when there are several: one call per kind
    was most of a student's generated tokens)."""
    return ("find", {"label": labels if len(labels) > 1 else labels[0]})


Template = Callable[[Twin, np.random.Generator, bool], Query | None]


def _query(
    text: str,
    category: str,
    level: int,
    negative: bool,
    ids: Collection[int],  # `not ids` tests emptiness: a generator would always pass
    chain: str,
    template: str,
) -> Query:
    if negative != (not ids):
        raise ChainError(f"{template}: negative={negative} but answer {ids}")
    return Query(text, category, level, negative, sorted(ids), chain, template)


# ------------------------------------------------------------------ semantic


def semantic_property(twin: Twin, rng: np.random.Generator, negative: bool) -> Query | None:
    """L1: "something I could pour hot tea into" -> every object with the property."""
    props = [p for p in PROPERTIES if bool(_with_prop(twin, p)) != negative]
    if not props:
        return None
    prop = str(rng.choice(props))
    text = str(rng.choice(PROPERTY_PHRASES[prop]))
    kinds = kinds_with(prop)
    b = ChainBuilder(twin)
    b.reason(
        f"The query asks for {text}: {PROPERTY_REASONS[prop]}. Objects of kinds "
        f"{', '.join(kinds)} qualify; find them in the twin. Every match is an answer."
    )
    (ids,) = b.plan([_find(kinds)])
    return _query(text, "semantic", 1, negative, ids, b.finish(ids), "semantic_property")


def semantic_superlative(twin: Twin, rng: np.random.Generator, negative: bool) -> Query | None:
    """L2: property + ranking: "the largest thing I could eat", "... nearest to me"."""
    props = [p for p in PROPERTIES if (len(_with_prop(twin, p)) >= 2) != negative]
    if negative:
        props = [p for p in props if not _with_prop(twin, p)]
    if not props:
        return None
    prop = str(rng.choice(props))
    rank = str(rng.choice(["largest", "smallest", "nearest"]))
    noun = PROPERTY_NOUNS[prop]
    text = f"the {noun} nearest to me" if rank == "nearest" else f"the {rank} {noun}"
    kinds = kinds_with(prop)
    b = ChainBuilder(twin)
    b.reason(
        f"First the candidates: {PROPERTY_REASONS[prop]}, so kinds {', '.join(kinds)}. "
        f"Then rank them by {'depth' if rank == 'nearest' else 'area'} and take the "
        f"{rank} one."
    )
    (cands,) = b.plan([_find(kinds)])
    if not cands:
        return _query(text, "semantic", 2, True, [], b.finish([]), "semantic_superlative")
    if rank == "nearest":
        (ranked,) = b.plan([("depth_order", {"ids": cands})])
    else:
        order = "desc" if rank == "largest" else "asc"
        (ranked,) = b.plan([("size_rank", {"ids": cands, "order": order})])
    if not _clear_first([v for _, v in ranked]):
        return None
    ids = [ranked[0][0]]
    return _query(text, "semantic", 2, False, ids, b.finish(ids), "semantic_superlative")


def semantic_near_reference(twin: Twin, rng: np.random.Generator, negative: bool) -> Query | None:
    """L3: property + a reference found by another property + distance ranking:
    "the thing I could eat closest to the sharp thing"."""
    options = []
    for ref_prop in PROPERTIES:
        refs = _with_prop(twin, ref_prop)
        if len(refs) != 1:
            continue
        for prop in PROPERTIES:
            cands = [i for i in _with_prop(twin, prop) if i != refs[0]]
            if (
                prop != ref_prop
                and bool(cands) != negative
                and not set(kinds_with(prop)) & set(kinds_with(ref_prop))
            ):
                options.append((prop, ref_prop))
    if not options:
        return None
    prop, ref_prop = options[int(rng.integers(len(options)))]
    text = f"the {PROPERTY_NOUNS[prop]} closest to the {PROPERTY_NOUNS[ref_prop]}"
    kinds, ref_kinds = kinds_with(prop), kinds_with(ref_prop)
    # a bound from when each kind was a call of its own; kept so the benchmark's samples
    # (and the frozen held-out set) stay the same
    if len(kinds) + len(ref_kinds) > _LIMITS.max_calls_per_plan:
        return None
    b = ChainBuilder(twin)
    b.reason(
        f"Candidates: {PROPERTY_REASONS[prop]} (kinds {', '.join(kinds)}). Reference: "
        f"{PROPERTY_REASONS[ref_prop]} (kinds {', '.join(ref_kinds)}). Then rank the "
        "candidates by their distance to the reference and take the closest."
    )
    cands, refs = b.plan([_find(kinds), _find(ref_kinds)])
    if len(refs) != 1:
        raise ChainError(f"reference for {ref_prop} is not unique: {refs}")
    if not cands:
        return _query(text, "semantic", 3, True, [], b.finish([]), "semantic_near_reference")
    (ranked,) = b.plan([("nearest", {"to": str(refs[0])})])
    ranked = [r for r in ranked if r[0] in cands]
    if not ranked or not _clear_first([r[1] for r in ranked]):
        return None
    ids = [ranked[0][0]]
    return _query(text, "semantic", 3, False, ids, b.finish(ids), "semantic_near_reference")


# ------------------------------------------------------------------ spatial


def spatial_extreme(twin: Twin, rng: np.random.Generator, negative: bool) -> Query | None:
    """L1: one ranking: "the object nearest the camera", "the largest object", or
    "the {label} nearest the camera" (negative when the label is absent)."""
    b = ChainBuilder(twin)
    if negative:
        present = set(_labels(twin))
        absent = sorted(k for k in KIND_BY_NAME if k not in present)
        label = str(rng.choice(absent))
        text = f"the {label} nearest to the camera"
        b.reason(f"Rank the {plural(label)} by distance to the camera; take the first, if any.")
        (ranked,) = b.plan([("nearest", {"to": "camera", "label": label})])
        if ranked:
            raise ChainError(f"absent label {label} was found")
        return _query(text, "spatial", 1, True, [], b.finish([]), "spatial_extreme")
    kind = str(rng.choice(["nearest", "farthest", "largest", "label_nearest"]))
    if kind == "largest":
        text = str(rng.choice(["the largest object in view", "the biggest thing I can see"]))
        b.reason("Rank every object by area and take the largest.")
        (ranked,) = b.plan([("size_rank", {})])
    elif kind == "label_nearest":
        multi = sorted(lb for lb, ids in _labels(twin).items() if len(ids) >= 2)
        if not multi:
            return None
        label = str(rng.choice(multi))
        text = f"the {label} nearest to the camera"
        b.reason(f"Rank the {plural(label)} by distance to the camera and take the first.")
        (ranked,) = b.plan([("nearest", {"to": "camera", "label": label})])
    else:
        text = f"the object {kind} {'to' if kind == 'nearest' else 'from'} the camera"
        b.reason(f"Rank every object by distance to the camera and take the {kind}.")
        (ranked,) = b.plan([(kind, {"to": "camera"})])
    if not _clear_first([r[1] for r in ranked]):
        return None
    ids = [ranked[0][0]]
    return _query(text, "spatial", 1, False, ids, b.finish(ids), "spatial_extreme")


def _relation_options(twin: Twin, negative: bool) -> list[tuple[str, str, str, list[int]]]:
    """(target label, relation, reference label, matching ids) with a unique reference."""
    labels = _labels(twin)
    ctx = ToolContext(twin, [])
    out = []
    for ref in _unique_labels(twin):
        (ref_id,) = labels[ref]
        for target, ids in labels.items():
            if target == ref or len(ids) > _LIMITS.max_calls_per_plan:
                continue
            entries = [TOOLS.call(ctx, "relation", {"a": i, "b": ref_id}) for i in ids]
            if any("error" in e for e in entries):
                continue  # e.g. never seen together in a video: no relation to test
            for rel in RELATION_WORDS:
                if rel == "inside" and not KIND_BY_NAME[ref].has("container"):
                    continue  # "the book inside the phone" is no sensible query
                hits = [i for i, e in zip(ids, entries, strict=True) if rel in e["ok"]]
                if bool(hits) != negative:
                    out.append((target, rel, ref, hits))
    return out


def plural(noun: str) -> str:
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun if noun == "scissors" else noun + "es"
    if noun.endswith("fe"):
        return noun[:-2] + "ves"
    return noun + "s"


def _rel_text(target: str, rel: str, ref: str) -> str:
    word = "on" if rel == "inside" and ref == "tray" else RELATION_WORDS[rel]
    return f"{target} {word} the {ref}"


def spatial_relation(twin: Twin, rng: np.random.Generator, negative: bool) -> Query | None:
    """L2: identify + relation: "the mug left of the plate", "the knife inside the drawer"."""
    options = _relation_options(twin, negative)
    if not options:
        return None
    target, rel, ref, _ = options[int(rng.integers(len(options)))]
    text = f"the {_rel_text(target, rel, ref)}"
    b = ChainBuilder(twin)
    b.reason(
        f"Find the {plural(target)} and the {ref}, then keep the {plural(target)} whose "
        f"relation to the {ref} includes {rel}."
    )
    cands, (ref_id,) = b.plan([_find([target]), _find([ref])])
    rels = b.plan([("relation", {"a": i, "b": ref_id}) for i in cands])
    ids = [i for i, r in zip(cands, rels, strict=True) if rel in r]
    return _query(text, "spatial", 2, negative, ids, b.finish(ids), "spatial_relation")


def spatial_relation_ranked(twin: Twin, rng: np.random.Generator, negative: bool) -> Query | None:
    """L3: identify + relation + ranking: "of the mugs left of the plate, the nearest to me"."""
    options = _relation_options(twin, negative)
    if not options:
        return None
    target, rel, ref, _ = options[int(rng.integers(len(options)))]
    text = f"of the {_rel_text(plural(target), rel, ref)}, the one nearest to me"
    b = ChainBuilder(twin)
    b.reason(
        f"Find the {plural(target)} and the {ref}; keep those {RELATION_WORDS[rel]} the {ref}; "
        "then rank them by depth and take the nearest."
    )
    cands, (ref_id,) = b.plan([_find([target]), _find([ref])])
    rels = b.plan([("relation", {"a": i, "b": ref_id}) for i in cands])
    kept = [i for i, r in zip(cands, rels, strict=True) if rel in r]
    if not kept:
        return _query(text, "spatial", 3, True, [], b.finish([]), "spatial_relation_ranked")
    (ranked,) = b.plan([("depth_order", {"ids": kept})])
    if not _clear_first([r[1] for r in ranked]):
        return None
    ids = [ranked[0][0]]
    return _query(text, "spatial", 3, False, ids, b.finish(ids), "spatial_relation_ranked")


# ------------------------------------------------------------------ temporal

_EVENTS = {
    "moved": ("the objects that moved", "what was moved", "moved"),
    "appeared": ("what appeared after the start", "the objects that showed up later", "appeared"),
    "disappeared": ("what disappeared", "the objects that are no longer in view", "disappeared"),
}


def temporal_event(twin: Twin, rng: np.random.Generator, negative: bool) -> Query | None:
    """L1: one motion test: "what was moved", "what appeared after the start"."""
    ctx = ToolContext(twin, [])
    events = [e for e in _EVENTS if bool(TOOLS.call(ctx, e, {})["ok"]) != negative]
    if len(twin) < 2 or not events:
        return None
    event = str(rng.choice(events))
    text = str(rng.choice(_EVENTS[event][:2]))
    b = ChainBuilder(twin)
    b.reason(f"The query asks which objects {_EVENTS[event][2]} during the video; ask the twin.")
    (ids,) = b.plan([(event, {})])
    return _query(text, "temporal", 1, negative, ids, b.finish(ids), "temporal_event")


def temporal_label_event(twin: Twin, rng: np.random.Generator, negative: bool) -> Query | None:
    """L2: identify + motion test: "the bottle that was moved"."""
    if len(twin) < 2:
        return None
    ctx = ToolContext(twin, [])
    options = []
    for event in _EVENTS:
        changed = set(TOOLS.call(ctx, event, {})["ok"])
        for label, ids in _labels(twin).items():
            if bool(changed & set(ids)) != negative:
                options.append((label, event))
    if not options:
        return None
    label, event = options[int(rng.integers(len(options)))]
    verb = {"moved": "was moved", "appeared": "appeared later", "disappeared": "disappeared"}
    text = f"the {label} that {verb[event]}"
    b = ChainBuilder(twin)
    b.reason(
        f"Find the {plural(label)} and the objects that {_EVENTS[event][2]}; answer those in both."
    )
    cands, changed = b.plan([("find", {"label": label}), (event, {})])
    ids = sorted(set(cands) & set(changed))
    return _query(text, "temporal", 2, negative, ids, b.finish(ids), "temporal_label_event")


def temporal_approach(twin: Twin, rng: np.random.Generator, negative: bool) -> Query | None:
    """L3: reference + movers + direction: "the object that approached the cup"."""
    if len(twin) < 2:
        return None
    ctx = ToolContext(twin, [])
    movers = TOOLS.call(ctx, "moved", {})["ok"]
    options = []
    for ref in _unique_labels(twin):
        (ref_id,) = _labels(twin)[ref]
        others = [m for m in movers if m != ref_id]
        if not others or len(others) > _LIMITS.max_calls_per_plan:
            continue
        verdicts = [TOOLS.call(ctx, "approach", {"a": m, "b": ref_id}) for m in others]
        hit = any(v.get("ok", {}).get("verdict") == "approached" for v in verdicts)
        if all("ok" in v for v in verdicts) and hit != negative:
            options.append(ref)
    if not options:
        return None
    ref = str(rng.choice(options))
    text = str(
        rng.choice([f"the object that approached the {ref}", f"what moved toward the {ref}"])
    )
    b = ChainBuilder(twin)
    b.reason(
        f"Find the {ref} and the objects that moved; for each mover, check whether its "
        f"distance to the {ref} shrank."
    )
    (ref_id,), moved = b.plan([("find", {"label": ref}), ("moved", {})])
    others = [m for m in moved if m != ref_id]
    verdicts = b.plan([("approach", {"a": m, "b": ref_id}) for m in others])
    ids = [m for m, v in zip(others, verdicts, strict=True) if v["verdict"] == "approached"]
    return _query(text, "temporal", 3, negative, ids, b.finish(ids), "temporal_approach")


def temporal_taken_out(twin: Twin, rng: np.random.Generator, negative: bool) -> Query | None:
    """L3: container + disappearance + containment: "what was taken out of the drawer"."""
    if len(twin) < 2:
        return None
    ctx = ToolContext(twin, [])
    gone = TOOLS.call(ctx, "disappeared", {})["ok"]
    options = []
    for ref in _unique_labels(twin):
        if ref not in ("drawer", "box", "tray"):
            continue
        (ref_id,) = _labels(twin)[ref]
        others = [g for g in gone if g != ref_id]
        if not others or len(others) > _LIMITS.max_calls_per_plan:
            continue
        rels = [TOOLS.call(ctx, "relation", {"a": g, "b": ref_id}) for g in others]
        if any("error" in r for r in rels):
            continue
        if any("inside" in r["ok"] for r in rels) != negative:
            options.append(ref)
    if not options:
        return None
    ref = str(rng.choice(options))
    text = f"what was taken {'off' if ref == 'tray' else 'out of'} the {ref}"
    b = ChainBuilder(twin)
    b.reason(
        f"Find the {ref} and the objects that disappeared; those that were inside the {ref} "
        "when last seen with it were taken out."
    )
    (ref_id,), gone = b.plan([("find", {"label": ref}), ("disappeared", {})])
    others = [g for g in gone if g != ref_id]
    rels = b.plan([("relation", {"a": g, "b": ref_id}) for g in others])
    ids = [g for g, r in zip(others, rels, strict=True) if "inside" in r]
    return _query(text, "temporal", 3, negative, ids, b.finish(ids), "temporal_taken_out")


#: Templates per (category, level). Temporal ones need a video twin.
TEMPLATES: dict[tuple[str, int], tuple[Template, ...]] = {
    ("semantic", 1): (semantic_property,),
    ("semantic", 2): (semantic_superlative,),
    ("semantic", 3): (semantic_near_reference,),
    ("spatial", 1): (spatial_extreme,),
    ("spatial", 2): (spatial_relation,),
    ("spatial", 3): (spatial_relation_ranked,),
    ("temporal", 1): (temporal_event,),
    ("temporal", 2): (temporal_label_event,),
    ("temporal", 3): (temporal_approach, temporal_taken_out),
}
