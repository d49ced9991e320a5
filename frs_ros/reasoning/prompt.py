"""The reasoner's prompt: instructions, compact twin, previous turn, query.

Two system prompts (``ReasonerConfig.prompt``): ``full`` documents every tool (signature
and meaning) and the twin's keys, for a model that meets the protocol for the first time;
``brief`` names the tools only (~3.5x fewer tokens), for a student distilled on chains that
already use them: it learnt the tools from the chains, and every prefill and training step
gets cheaper. A model must be served with the prompt it was trained with.

The twin comes before the query so that every query on the same twin shares one token
prefix, whose KV cache the HF runtime reuses (``frs_ros.reasoning.runtime``). Few-shot
examples (``ReasonerConfig.few_shot``) are part of the system prompt for the same reason:
every query of every twin shares them, so a runtime prefills them once per process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from frs_ros.reasoning.tools import TOOLS, ToolRegistry
from frs_ros.twin import Twin
from frs_ros.twin.serialize import to_compact

INTRO = """\
You segment what a person means in a camera scene. You see the scene only as a digital \
twin: a JSON list of tracked objects. Answer with the ids of the objects the query refers to."""

TWIN_KEYS = """\
Twin keys: img [w,h]; T frames; fr [first,last] frame; depth "rel" (0 near..1 far) or "m" \
(metres). Per object: id; lb label; sc score; bb box [x0,y0,x1,y1] px; ar area % of image; \
c centroid px; d median depth; p3 3-D centroid m; lv level (group/part); pa parent; \
f [first,last] frame seen; n frames seen; mv [dx,dy] px moved; gone = not in latest frame."""

TOOLS_HEADER = """\
Tools (pure functions over the twin; an id argument may be "prev" = the previous answer):"""

PROTOCOL = """\
Write, in order:
<reason>what the query needs and which objects could match</reason>
then, only if you need measurements, one or more rounds of
<plan>[{"tool": "NAME", "args": {...}}]</plan>
after which the system appends <results>...</results>; finally
<answer>{"ids": [..]}</answer>
Use "ids": [] when no object matches."""


@dataclass(frozen=True)
class PreviousTurn:
    query: str
    ids: list[int]


@dataclass(frozen=True)
class SolvedExample:
    """A few-shot example: a twin, a query and a complete rollout that answers it."""

    twin: Twin
    query: str
    rollout: str


EXAMPLES_HEADER = """\
Solved examples (other scenes; in each reply the system appended the <results> blocks):"""

PROMPT_STYLES = ("full", "brief")


def check_prompt_style(style: str) -> None:
    if style not in PROMPT_STYLES:
        raise ValueError(f"prompt must be one of {PROMPT_STYLES}, got {style!r}")


def system_prompt(
    registry: ToolRegistry = TOOLS, style: str = "full", examples: Sequence[SolvedExample] = ()
) -> str:
    """The instructions, then the solved ``examples`` (each written as the user turn the
    model will see, then the reply)."""
    check_prompt_style(style)
    if style == "brief":
        parts = [INTRO, f"{TOOLS_HEADER} {', '.join(registry.names)}", PROTOCOL]
    else:
        parts = [INTRO, TWIN_KEYS, f"{TOOLS_HEADER}\n{registry.describe()}", PROTOCOL]
    if examples:
        parts.append(EXAMPLES_HEADER)
        for i, ex in enumerate(examples, 1):
            parts.append(f"Example {i}\n{user_prompt(ex.twin, ex.query)}\n\nReply: {ex.rollout}")
    return "\n\n".join(parts)


def user_prompt(twin: Twin, query: str, previous: PreviousTurn | None = None) -> str:
    parts = [f"Twin: {to_compact(twin)}"]
    if previous is not None:
        parts.append(f'Previous query: "{previous.query}" -> answer ids {previous.ids}')
    parts.append(f"Query: {query}")
    return "\n\n".join(parts)
