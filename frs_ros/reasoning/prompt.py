"""The reasoner's prompt: instructions, compact twin, previous turn, query.

The twin comes before the query so that every query on the same twin shares one token
prefix, whose KV cache the HF runtime reuses (``frs_ros.reasoning.runtime``).
"""

from __future__ import annotations

from dataclasses import dataclass

from frs_ros.reasoning.tools import TOOLS, ToolRegistry
from frs_ros.twin import Twin
from frs_ros.twin.serialize import to_compact

SYSTEM_TEMPLATE = """\
You segment what a person means in a camera scene. You see the scene only as a digital \
twin: a JSON list of tracked objects. Answer with the ids of the objects the query refers to.

Twin keys: img [w,h]; T frames; fr [first,last] frame; depth "rel" (0 near..1 far) or "m" \
(metres). Per object: id; lb label; sc score; bb box [x0,y0,x1,y1] px; ar area % of image; \
c centroid px; d median depth; p3 3-D centroid m; lv level (group/part); pa parent; \
f [first,last] frame seen; n frames seen; mv [dx,dy] px moved; gone = not in latest frame.

Tools (pure functions over the twin; an id argument may be "prev" = the previous answer):
{tools}

Write, in order:
<reason>what the query needs and which objects could match</reason>
then, only if you need measurements, one or more rounds of
<plan>[{{"tool": "NAME", "args": {{...}}}}]</plan>
after which the system appends <results>...</results>; finally
<answer>{{"ids": [..]}}</answer>
Use "ids": [] when no object matches."""


@dataclass(frozen=True)
class PreviousTurn:
    query: str
    ids: list[int]


def system_prompt(registry: ToolRegistry = TOOLS) -> str:
    return SYSTEM_TEMPLATE.format(tools=registry.describe())


def user_prompt(twin: Twin, query: str, previous: PreviousTurn | None = None) -> str:
    parts = [f"Twin: {to_compact(twin)}"]
    if previous is not None:
        parts.append(f'Previous query: "{previous.query}" -> answer ids {previous.ids}')
    parts.append(f"Query: {query}")
    return "\n\n".join(parts)
