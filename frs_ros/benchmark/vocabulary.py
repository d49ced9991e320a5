"""The benchmark's object vocabulary: kitchen/household objects with functional knowledge.

Each kind carries the facts a semantic query relies on ("holds hot liquid", "cuts",
"a child must not touch") plus a typical physical size (metres) and colour, so scenes
can be laid out at metric depths and rendered. The functional facts live *here*, not in
the twin: a reasoner must bring them itself (that is what makes a query "semantic").
"""

from __future__ import annotations

from dataclasses import dataclass

# Functional properties. Names are stable identifiers (they appear in sample metadata).
PROPERTIES: tuple[str, ...] = (
    "holds_liquid",
    "holds_hot_liquid",
    "cuts",
    "hot",
    "sharp",
    "child_unsafe",
    "edible",
    "electronic",
    "container",
    "sittable",
    "readable",
)


@dataclass(frozen=True)
class ObjectKind:
    name: str
    size_m: tuple[float, float]  # typical (width, height) in metres, as seen from the camera
    shape: str  # "ellipse" | "rect" (what the renderer and the masks draw)
    colour: tuple[int, int, int]  # base RGB; the renderer shades it
    colour_name: str
    properties: frozenset[str]

    def has(self, prop: str) -> bool:
        return prop in self.properties


def _kind(
    name: str,
    size: tuple[float, float],
    shape: str,
    colour: tuple[int, int, int],
    colour_name: str,
    *props: str,
) -> ObjectKind:
    unknown = set(props) - set(PROPERTIES)
    if unknown:  # a typo here would silently make a property unanswerable
        raise ValueError(f"unknown properties for {name}: {sorted(unknown)}")
    return ObjectKind(name, size, shape, colour, colour_name, frozenset(props))


KINDS: tuple[ObjectKind, ...] = (
    _kind("mug", (0.09, 0.10), "rect", (200, 60, 50), "red", "holds_liquid", "holds_hot_liquid"),
    _kind(
        "cup", (0.08, 0.08), "ellipse", (240, 240, 235), "white", "holds_liquid", "holds_hot_liquid"
    ),
    _kind(
        "teapot",
        (0.18, 0.15),
        "ellipse",
        (90, 140, 200),
        "blue",
        "holds_liquid",
        "holds_hot_liquid",
        "hot",
        "child_unsafe",
    ),
    _kind("glass", (0.07, 0.12), "rect", (170, 220, 230), "clear", "holds_liquid"),
    _kind("bottle", (0.07, 0.25), "rect", (60, 160, 80), "green", "holds_liquid"),
    _kind(
        "bowl",
        (0.16, 0.07),
        "ellipse",
        (230, 200, 120),
        "yellow",
        "holds_liquid",
        "holds_hot_liquid",
        "container",
    ),
    _kind("plate", (0.24, 0.05), "ellipse", (225, 225, 225), "white"),
    _kind(
        "knife", (0.22, 0.03), "rect", (160, 160, 170), "silver", "cuts", "sharp", "child_unsafe"
    ),
    _kind(
        "scissors", (0.15, 0.07), "rect", (220, 120, 30), "orange", "cuts", "sharp", "child_unsafe"
    ),
    _kind("fork", (0.18, 0.03), "rect", (180, 180, 190), "silver", "sharp"),
    _kind("pan", (0.26, 0.06), "ellipse", (50, 50, 55), "black", "hot", "child_unsafe"),
    _kind(
        "kettle",
        (0.20, 0.22),
        "ellipse",
        (150, 150, 160),
        "grey",
        "holds_liquid",
        "holds_hot_liquid",
        "hot",
        "electronic",
        "child_unsafe",
    ),
    _kind("apple", (0.08, 0.08), "ellipse", (210, 30, 40), "red", "edible"),
    _kind("banana", (0.18, 0.05), "ellipse", (245, 215, 60), "yellow", "edible"),
    _kind("bread", (0.25, 0.10), "rect", (190, 140, 80), "brown", "edible"),
    _kind("orange", (0.08, 0.08), "ellipse", (250, 150, 30), "orange", "edible"),
    _kind("phone", (0.07, 0.14), "rect", (30, 30, 35), "black", "electronic"),
    _kind("laptop", (0.33, 0.22), "rect", (120, 120, 130), "grey", "electronic"),
    _kind("book", (0.15, 0.22), "rect", (70, 90, 160), "blue", "readable"),
    _kind("chair", (0.45, 0.90), "rect", (140, 90, 50), "brown", "sittable"),
    _kind("stool", (0.35, 0.60), "rect", (100, 70, 40), "dark brown", "sittable"),
    _kind("drawer", (0.50, 0.30), "rect", (175, 135, 95), "wooden", "container"),
    _kind("box", (0.35, 0.25), "rect", (200, 170, 120), "cardboard", "container"),
    _kind("tray", (0.45, 0.30), "rect", (110, 60, 60), "maroon", "container"),
)
KIND_BY_NAME: dict[str, ObjectKind] = {k.name: k for k in KINDS}

#: Kinds that hold other objects in the scene (their mask includes their contents).
CONTAINERS: tuple[str, ...] = ("drawer", "box", "tray")
#: Small kinds that may be placed inside a container.
CONTENTS: tuple[str, ...] = ("knife", "scissors", "fork", "apple", "orange", "phone", "cup", "mug")

#: Natural-language phrasings of "something with this property" (semantic queries).
PROPERTY_PHRASES: dict[str, tuple[str, ...]] = {
    "holds_hot_liquid": ("something I could pour hot tea into", "what could hold hot soup"),
    "holds_liquid": ("something I could pour water into", "what can hold a drink"),
    "cuts": ("something I could cut bread with", "what could cut a string"),
    "hot": ("what could burn my hand", "something that gets hot when cooking"),
    "sharp": ("anything sharp", "what could prick a finger"),
    "child_unsafe": ("what a small child must not touch", "what is unsafe for a toddler"),
    "edible": ("something I could eat", "a snack"),
    "electronic": ("something that needs charging or power", "an electronic device"),
    "container": ("something to put small things in", "what could store my keys"),
    "sittable": ("something to sit on", "where could I take a seat"),
    "readable": ("something to read", "what could I read while waiting"),
}
#: Why the property holds, as a reasoner would say it (the oracle's <reason> text).
PROPERTY_REASONS: dict[str, str] = {
    "holds_hot_liquid": "hot liquid needs a heat-safe vessel",
    "holds_liquid": "a liquid needs a vessel",
    "cuts": "cutting needs a blade",
    "hot": "cookware and kettles get hot",
    "sharp": "blades and prongs are sharp",
    "child_unsafe": "sharp or hot things are dangerous for a child",
    "edible": "food can be eaten",
    "electronic": "devices run on power",
    "container": "containers store small things",
    "sittable": "seats are for sitting",
    "readable": "printed matter is read",
}


def kinds_with(prop: str) -> list[str]:
    """Names of the kinds with ``prop``, in vocabulary order."""
    if prop not in PROPERTIES:
        raise ValueError(f"unknown property {prop!r}; expected one of {PROPERTIES}")
    return [k.name for k in KINDS if prop in k.properties]


def _check_phrases() -> None:
    # Every property can be asked about, and a plan of find() calls fits one round (8 calls).
    for prop in PROPERTIES:
        if prop not in PROPERTY_PHRASES or prop not in PROPERTY_REASONS:
            raise AssertionError(f"property {prop} has no phrasing")
        if not 0 < len(kinds_with(prop)) <= 7:
            raise AssertionError(f"property {prop} has {len(kinds_with(prop))} kinds")


_check_phrases()
