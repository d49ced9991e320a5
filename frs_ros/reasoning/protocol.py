"""The rollout protocol of DESIGN.md §4 (FastReasonSeg eq. 2): tags, parsing, format check.

A rollout is ``<reason>R</reason>`` then zero or more rounds of
``<plan>[{"tool": NAME, "args": {...}}, ...]</plan><results>{...}</results>`` (the engine
writes ``<results>``) and finally ``<answer>{"ids": [...]}</answer>``. ``"ids": []`` is the
empty target. Parsing never raises on model text: it returns ``None`` or an error string.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

REASON, PLAN, RESULTS, ANSWER = "reason", "plan", "results", "answer"
TAGS = (REASON, PLAN, RESULTS, ANSWER)
PLAN_CLOSE = "</plan>"
ANSWER_CLOSE = "</answer>"

_BLOCK = re.compile(r"<(reason|plan|results|answer)>(.*?)</\1>", re.DOTALL)
# A well-formed rollout: one reason, (plan results)*, one answer; only whitespace between.
_FORMAT = re.compile(
    r"\s*<reason>(?:(?!</?(?:reason|plan|results|answer)>).)*</reason>"
    r"(?:\s*<plan>(?:(?!</?(?:reason|plan|results|answer)>).)*</plan>"
    r"\s*<results>(?:(?!</?(?:reason|plan|results|answer)>).)*</results>)*"
    r"\s*<answer>(?:(?!</?(?:reason|plan|results|answer)>).)*</answer>\s*",
    re.DOTALL,
)


@dataclass(frozen=True)
class ToolCall:
    tool: str
    args: dict[str, Any] = field(default_factory=dict)


def check_format(text: str) -> bool:
    """True when ``text`` follows the protocol exactly: tag pairs present, closed, ordered
    (the format reward of DESIGN.md §5)."""
    return _FORMAT.fullmatch(text) is not None


def blocks(text: str, tag: str) -> list[str]:
    """Contents of every closed ``<tag>…</tag>`` block, in order."""
    return [m.group(2) for m in _BLOCK.finditer(text) if m.group(1) == tag]


def last_block(text: str, tag: str) -> str | None:
    found = blocks(text, tag)
    return found[-1] if found else None


def parse_plan(body: str, max_calls: int) -> tuple[list[ToolCall], str | None]:
    """Tool calls of a ``<plan>`` body, or an error message for the ``<results>``.

    Accepts a JSON list of ``{"tool": str, "args": {...}}`` or a single such object.
    """
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return [], f"plan is not valid JSON: {exc.msg} at position {exc.pos}"
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
    """Ids of an ``<answer>`` body: ``{"ids": [...]}`` (or a bare list). ``None`` if malformed."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
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
        ids.append(int(v))
    return sorted(set(ids))


def format_results(entries: list[dict[str, Any]]) -> str:
    """The engine's ``<results>`` block for a round of tool calls."""
    return "<results>" + json.dumps({"results": entries}, separators=(",", ":")) + "</results>"


def format_answer(ids: list[int]) -> str:
    return "<answer>" + json.dumps({"ids": list(ids)}) + "</answer>"
