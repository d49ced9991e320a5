"""Constrained decoding of the rollout protocol (an option of the transformers runtime).

Small pretrained models know the task but not the protocol: they end their turn after
``<results>``, answer in prose, or call tools that do not exist, and every such rollout is
``unparseable``. With constraints on, every generated token must keep the completion a
prefix of the protocol grammar:

- first turn: ``<reason>free text</reason>`` then a plan or an answer;
- after the engine's ``</results>``: a plan or an answer;
- plan: ``<plan>[{"tool": NAME, "args": {...}}, ...]</plan>`` with the registry's tool
  names and each tool's own arguments (in declared order, typed: ids are integers or
  ``"prev"``, choices are their listed values);
- answer: ``<answer>{"ids": [integers]}</answer>``;
- end-of-sequence is never allowed: the turn ends on ``</plan>`` or ``</answer>``.

The grammar is regular (bounded lengths), so it is one regular expression checked with
the ``regex`` package's partial matching. Choosing a token tries the model's candidates
best first; when none of the best ``top_k`` fits, the vocabulary is scanned, pre-filtered
by the characters the grammar allows next.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from itertools import combinations
from typing import Any

import regex

from frs_ros.reasoning.tools import TOOLS, Param, ToolRegistry

_WS = r"\s?"
_ID = r'(?:\d{1,9}|"prev")'
_KIND = {
    "id": _ID,
    "ids": rf'(?:\[(?:{_ID}(?:,{_WS}{_ID}){{0,31}})?\]|"prev")',
    "int": r"-?\d{1,9}",
    "float": r"-?\d{1,9}(?:\.\d{1,6})?",
    "str": r'"[^"\\<>\n]{1,40}"',
}
# characters tried to find what may come next (covers everything the grammar can emit)
_PROBE = string.printable


def _value(p: Param) -> str:
    if p.kind == "choice":
        return "(?:" + "|".join(f'"{regex.escape(c)}"' for c in p.choices) + ")"
    return _KIND[p.kind]


def _args(params: dict[str, Param]) -> str:
    """``{...}`` with every required parameter and any optional ones, in declared order."""
    names = list(params)
    optional = [n for n in names if not params[n].required]
    variants = []
    for k in range(len(optional) + 1):
        for chosen in combinations(optional, k):
            present = [n for n in names if params[n].required or n in chosen]
            fields = [f'"{n}":{_WS}{_value(params[n])}' for n in present]
            variants.append(f",{_WS}".join(fields))
    return r"\{" + _WS + "(?:" + "|".join(variants) + ")" + _WS + r"\}"


def protocol_patterns(
    registry: ToolRegistry = TOOLS, *, max_calls: int = 8, max_reason_chars: int = 300
) -> tuple[str, str]:
    """(first turn, turn after ``</results>``) as regular expressions."""
    calls = [
        rf'\{{{_WS}"tool":{_WS}"{regex.escape(name)}",{_WS}"args":{_WS}'
        + _args(registry[name].params)
        + rf"{_WS}\}}"
        for name in registry.names
    ]
    call = "(?:" + "|".join(calls) + ")"
    plan = rf"<plan>\[{_WS}{call}(?:,{_WS}{call}){{0,{max_calls - 1}}}{_WS}\]</plan>"
    ids = rf"\[(?:\d{{1,9}}(?:,{_WS}\d{{1,9}}){{0,31}})?\]"
    answer = rf'<answer>\{{{_WS}"ids":{_WS}{ids}{_WS}\}}</answer>'
    turn = rf"\s{{0,2}}(?:{plan}|{answer})"
    first = rf"\s{{0,2}}<reason>[^<]{{1,{max_reason_chars}}}</reason>{turn}"
    return first, turn


class ProtocolGrammar:
    """Picks, for a completion, the best token that keeps it inside the protocol."""

    def __init__(
        self,
        registry: ToolRegistry = TOOLS,
        *,
        max_calls: int = 8,
        max_reason_chars: int = 300,
        top_k: int = 64,
    ) -> None:
        first, turn = protocol_patterns(
            registry, max_calls=max_calls, max_reason_chars=max_reason_chars
        )
        self._first, self._turn = regex.compile(first), regex.compile(turn)
        self.top_k = top_k

    def pattern_for(self, transcript: str) -> Any:
        """The grammar of the turn that continues ``transcript``."""
        return self._turn if transcript.rstrip().endswith("</results>") else self._first

    @staticmethod
    def allows(pattern: Any, text: str) -> bool:
        return pattern.fullmatch(text, partial=True) is not None

    def choose(
        self,
        pattern: Any,
        generated: str,
        ranked: Sequence[int],
        vocabulary: Sequence[str],
        score: Callable[[int], float],
    ) -> int | None:
        """The first token of ``ranked`` (the model's choices, best first) whose text
        (``vocabulary[token]``) keeps ``generated`` a grammar prefix; else the best-scoring
        such token of the whole vocabulary; None when there is none."""
        for token in ranked[: self.top_k]:
            text = vocabulary[token]
            if text and self.allows(pattern, generated + text):
                return token
        nxt = {c for c in _PROBE if self.allows(pattern, generated + c)}
        fits = [
            t
            for t, text in enumerate(vocabulary)
            if text and text[0] in nxt and self.allows(pattern, generated + text)
        ]
        return max(fits, key=score) if fits else None
