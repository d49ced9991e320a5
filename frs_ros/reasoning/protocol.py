"""The rollout protocol of docs/DESIGN.md §4 (FastReasonSeg eq. 2): tags, parsing, format check.

A rollout is ``<reason>R</reason>`` then zero or more rounds of
``<plan>[{"tool": NAME, "args": {...}}, ...]</plan><results>{...}</results>`` (the engine
writes ``<results>``) and finally ``<answer>{"ids": [...]}</answer>``. ``"ids": []`` is the
empty target. Parsing never raises on model text: it returns ``None`` or an error string.

Model-written JSON goes through one bounded parser (:func:`parse_model_json`): at most
``MAX_JSON_CHARS`` characters and ``MAX_JSON_DEPTH`` levels of nesting, finite numbers only
(Python's ``json`` accepts ``NaN``, ``Infinity`` and ``1e400``), integers of at most
``MAX_INT_DIGITS`` digits. Answer ids must be int32 (the ROS messages' type). Tag scanning
is linear in the text, so a hostile rollout (200 kB, thousands of unclosed tags) stays cheap.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

REASON, PLAN, RESULTS, ANSWER = "reason", "plan", "results", "answer"
TAGS = (REASON, PLAN, RESULTS, ANSWER)
PLAN_CLOSE = "</plan>"
ANSWER_CLOSE = "</answer>"

_TAG = re.compile(r"<(/?)(reason|plan|results|answer)>")
_OPEN = re.compile(r"<(reason|plan|results|answer)>")
MAX_JSON_CHARS = 16_384  # a plan of 8 calls or an answer of many ids is far smaller
MAX_JSON_DEPTH = 32  # json recurses per level: ~1,000 nested "[" would raise RecursionError
MAX_INT_DIGITS = 19  # above this Python's int() is slow or refuses (4,300 digits)
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # object ids travel as int32 in the ROS messages


@dataclass(frozen=True)
class ToolCall:
    tool: str
    args: dict[str, Any] = field(default_factory=dict)


def check_format(text: str) -> bool:
    """True when ``text`` follows the protocol exactly: tag pairs present, closed, ordered
    (the format reward of docs/DESIGN.md §5)."""
    tags = list(_TAG.finditer(text))
    if len(tags) < 4 or len(tags) % 2:
        return False
    names = []
    for k in range(0, len(tags), 2):
        opening, closing = tags[k], tags[k + 1]
        name = opening.group(2)
        if opening.group(1) or closing.group(1) != "/" or closing.group(2) != name:
            return False  # a block that does not close before the next tag starts
        names.append(name)
    middle = names[1:-1]
    if names[0] != REASON or names[-1] != ANSWER or len(middle) % 2:
        return False
    if any(name != (PLAN, RESULTS)[i % 2] for i, name in enumerate(middle)):
        return False
    # only whitespace outside the blocks
    gaps = [text[: tags[0].start()], text[tags[-1].end() :]]
    gaps += [text[tags[k].end() : tags[k + 1].start()] for k in range(1, len(tags) - 1, 2)]
    return all(not g.strip() for g in gaps)


@dataclass(frozen=True)
class Block:
    """A closed ``<tag>body</tag>`` block: ``text[start:end]`` is the whole block, tags
    included."""

    tag: str
    start: int
    end: int
    body: str


def find_blocks(text: str, tags: Iterable[str] = TAGS) -> list[Block]:
    """Every closed block of ``tags``, in order: the one tag scanner of the package.

    A block ends at the first closing tag of its name; an opening tag of ``tags`` inside a
    block is part of its body. With one tag this is the regex ``<tag>.*?</tag>``; with all
    four it is how the engine reads a rollout (a ``<plan>`` quoted in a ``<results>`` is
    data, not a plan). Linear: closing positions are looked up, not searched for per
    opening tag."""
    closes: dict[str, list[int]] = {t: [] for t in tags}
    for m in _TAG.finditer(text):
        if m.group(1) and m.group(2) in closes:
            closes[m.group(2)].append(m.start())
    found: list[Block] = []
    pos = 0
    for m in _OPEN.finditer(text):
        tag = m.group(1)
        if m.start() < pos or tag not in closes:
            continue  # inside the previous block, or a tag not asked for
        ends = closes[tag]
        k = bisect.bisect_left(ends, m.end())
        if k < len(ends):
            pos = ends[k] + len(tag) + 3
            found.append(Block(tag, m.start(), pos, text[m.end() : ends[k]]))
    return found


def blocks(text: str, tag: str) -> list[str]:
    """Contents of every closed ``<tag>…</tag>`` block of the rollout's structure, in order."""
    return [b.body for b in find_blocks(text) if b.tag == tag]


def without_blocks(text: str, tag: str) -> str:
    """``text`` with every closed ``<tag>…</tag>`` block cut out."""
    kept, pos = [], 0
    for b in find_blocks(text, (tag,)):
        kept.append(text[pos : b.start])
        pos = b.end
    return "".join(kept) + text[pos:]


def model_parts(chain: str) -> list[str]:
    """The model-written pieces of a chain, one per ``complete`` call (the engine stops
    generating at every ``</plan>``): its ``<results>`` blocks (if any) are dropped and the
    text is cut after every ``</plan>``."""
    text = without_blocks(chain, RESULTS)
    parts = [p + "</plan>" for p in text.split("</plan>")]
    parts[-1] = parts[-1][: -len("</plan>")]
    return [p for p in parts if p]


def last_block(text: str, tag: str) -> str | None:
    found = blocks(text, tag)
    return found[-1] if found else None


class _Refused(ValueError):
    """A JSON value the bounded parser does not accept (message is for the model)."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"number {text[:40]} is out of range (finite numbers only)")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"integer {text[:40]}... has more than {MAX_INT_DIGITS} digits")
    return int(text)


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a number here (finite numbers only)")


def _depth(text: str) -> int:
    """Deepest nesting of arrays/objects, brackets inside strings ignored (one pass)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_model_json(body: str) -> tuple[Any, str | None]:
    """``(value, None)`` for model-written JSON within the bounds, else ``(None, message)``
    where the message completes "the plan is ...".

    The one parser for ``<plan>`` and ``<answer>`` payloads (engine and rewards); it never
    raises on any string.
    """
    if len(body) > MAX_JSON_CHARS:
        return None, f"too long ({len(body)} characters; at most {MAX_JSON_CHARS})"
    if _depth(body) > MAX_JSON_DEPTH:
        return None, f"nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        value = json.loads(
            body,
            parse_float=_finite_float,
            parse_int=_bounded_int,
            parse_constant=_refuse_constant,
        )
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at position {exc.pos}"
    except (ValueError, RecursionError) as exc:  # RecursionError: a guard, _depth prevents it
        return None, f"not accepted: {exc}"
    return value, None


def parse_plan(body: str, max_calls: int) -> tuple[list[ToolCall], str | None]:
    """Tool calls of a ``<plan>`` body, or an error message for the ``<results>``.

    Accepts a JSON list of ``{"tool": str, "args": {...}}`` or a single such object.
    """
    data, error = parse_model_json(body)
    if error is not None:
        return [], f"plan is {error}"
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        return [], 'plan must be a JSON list of {"tool": ..., "args": {...}}'
    if len(data) > max_calls:
        return [], f"plan has {len(data)} calls; at most {max_calls} are allowed per round"
    calls = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("tool"), str):
            return [], f"call {i} must be an object with a string 'tool'"
        args = item.get("args", {})
        if not isinstance(args, dict):
            return [], f"call {i} ({item['tool']}): 'args' must be an object"
        calls.append(ToolCall(item["tool"], args))
    return calls, None


def parse_answer(body: str) -> list[int] | None:
    """Ids of an ``<answer>`` body: ``{"ids": [...]}`` (or a bare list), each an int32
    (``2.0`` counts as 2). ``None`` if malformed or out of bounds."""
    data, error = parse_model_json(body)
    if error is not None:
        return None
    if isinstance(data, dict):
        data = data.get("ids")
    if not isinstance(data, list):
        return None
    ids = []
    for v in data:
        # bool is an int subclass; "true" is no object id
        if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v):
            return None
        if not INT32_MIN <= v <= INT32_MAX:
            return None
        ids.append(int(v))
    return sorted(set(ids))


def format_results(entries: list[dict[str, Any]]) -> str:
    """The engine's ``<results>`` block for a round of tool calls."""
    return "<results>" + json.dumps({"results": entries}, separators=(",", ":")) + "</results>"


def format_answer(ids: list[int]) -> str:
    return "<answer>" + json.dumps({"ids": list(ids)}) + "</answer>"
