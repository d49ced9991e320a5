"""Reworded training queries: the generator's template phrases said in other words.

A student trained only on the templates' wording learns the phrase ("nearest to the
camera" → ``depth_order``) more than the relation; on queries worded differently it loses
J (docs/training.md, "The reworded set"). ``frs bench generate --paraphrase F`` rewrites a
share ``F`` of the generated queries with :func:`reword`: every template phrase found in
the query is replaced by one of its alternatives below. The oracle chain is kept as it
is, so its ``<reason>`` still names the template's concept ("The query asks for what can
hold a drink: ...") — the student learns to map the new words onto it.

The alternatives are written to differ from the hand-written reworded evaluation set
(``frs_ros/benchmark/data/reworded.json``): a test checks that a reworded query contains
none of them unless the templates themselves use those words ("biggest", "in"), so that
set keeps measuring wording the student has not seen.
"""

from __future__ import annotations

import re

import numpy as np

#: Template phrase → other words for it (whole phrases; the longest match wins).
ALTERNATIVES: dict[str, tuple[str, ...]] = {
    # semantic, level 1: the whole query (frs_ros/benchmark/vocabulary.py PROPERTY_PHRASES)
    "something I could pour hot tea into": (
        "what I could make tea in",
        "somewhere to pour boiling water",
    ),
    "what could hold hot soup": ("what I could put hot stew in", "something for hot coffee"),
    "something I could pour water into": (
        "what I could fill with water",
        "somewhere to put some juice",
    ),
    "what can hold a drink": ("something to drink from", "where I could pour some milk"),
    "something I could cut bread with": ("a tool for slicing", "what could slice a tomato"),
    "what could cut a string": ("something to cut paper with", "what I could chop onions with"),
    "what could burn my hand": ("what is too hot to touch", "something that could give me a burn"),
    "something that gets hot when cooking": (
        "what warms up on the stove",
        "cookware that gets hot",
    ),
    "anything sharp": ("something pointy", "what has a point or a blade"),
    "what could prick a finger": (
        "what could pierce my skin",
        "something that could cut my finger",
    ),
    "what a small child must not touch": (
        "what I should keep away from a baby",
        "anything dangerous for kids",
    ),
    "what is unsafe for a toddler": (
        "what is risky for little children",
        "something a child could get hurt by",
    ),
    "something I could eat": ("some food", "what I could have for lunch"),
    "a snack": ("something to munch on", "what I could eat right now"),
    "something that needs charging or power": (
        "something with a battery",
        "a device that plugs in",
    ),
    "an electronic device": ("a piece of electronics", "something that runs on electricity"),
    "something to put small things in": ("what I could keep coins in", "somewhere to keep pens"),
    "what could store my keys": ("a place to keep my rings", "what could hold paper clips"),
    "something to sit on": ("a place to sit", "somewhere to rest my legs"),
    "where could I take a seat": ("what I could sit down on", "where could I sit"),
    "something to read": ("reading material", "something with text on it"),
    "what could I read while waiting": (
        "what could I read in bed",
        "something to look at for words",
    ),
    # semantic, levels 2-3: property nouns inside composed queries (queries.PROPERTY_NOUNS)
    "thing I could pour hot tea into": ("thing I could make tea in", "thing for hot coffee"),
    "thing that could hold water": ("thing I could fill with water", "thing to drink from"),
    "thing I could cut bread with": ("thing I could slice with", "cutting tool"),
    "thing that could burn my hand": ("thing too hot to touch", "thing that could burn me"),
    "sharp thing": ("pointy thing", "thing with a blade or a point"),
    "thing a small child must not touch": (
        "thing dangerous for kids",
        "thing to keep away from a baby",
    ),
    "thing I could eat": ("food item", "thing to snack on"),
    "electronic device": ("device that runs on power", "piece of electronics"),
    "thing I could store small items in": (
        "thing I could keep coins in",
        "place to keep small things",
    ),
    "thing I could sit on": ("place to sit", "thing to sit on"),
    "thing I could read": ("thing with text on it", "piece of reading material"),
    "largest": ("biggest",),
    "smallest": ("littlest",),
    "nearest to me": ("closest to me", "nearest to where I am"),
    # spatial
    "the largest object in view": ("the largest thing in the frame", "the biggest item here"),
    "the biggest thing I can see": (
        "the largest object I can see",
        "the biggest thing in front of me",
    ),
    "the object nearest to the camera": (
        "the thing closest to the camera",
        "what is nearest to me",
    ),
    "the object farthest from the camera": (
        "the thing farthest away",
        "what is most distant from the camera",
    ),
    "nearest to the camera": ("nearest to me", "closest to my position"),
    "the one nearest to me": ("the closest one to me", "the one closest to me"),
    "left of": ("to the left of",),
    "right of": ("to the right of",),
    "above": ("higher than",),
    "below": ("beneath", "lower than"),
    "inside": ("within", "in"),
    # temporal
    "the objects that moved": ("what changed place", "the things that were moved"),
    "what was moved": ("whatever someone moved", "the moved objects"),
    "what appeared after the start": (
        "what showed up during the video",
        "the new arrivals in the scene",
    ),
    "the objects that showed up later": ("what was not there at first", "what came in later"),
    "what disappeared": ("what vanished", "what is gone now"),
    "the objects that are no longer in view": (
        "what can no longer be seen",
        "the things that left",
    ),
    "that was moved": ("that someone moved", "that changed place"),
    "that appeared later": ("that showed up during the video", "that was not there at first"),
    "that disappeared": ("that vanished", "that is gone now"),
    "the object that approached": ("what came closer to", "the thing that drew near"),
    "what moved toward": ("what moved nearer to", "whatever came near"),
    "what was taken out of": ("what someone took out of", "what got taken from"),
    "what was taken off": ("what someone took off", "what got lifted off"),
}

_PHRASES = re.compile(
    r"\b(?:" + "|".join(re.escape(p) for p in sorted(ALTERNATIVES, key=len, reverse=True)) + r")\b"
)


def reword(query: str, rng: np.random.Generator) -> str:
    """``query`` with every template phrase replaced by a random alternative (the query
    unchanged when it has none)."""
    return _PHRASES.sub(lambda m: str(rng.choice(ALTERNATIVES[m.group(0)])), query)
