"""The one YAML loader of the package: safe (PyYAML's safe schema, no Python objects) and
bounded, for every YAML file frs_ros reads (recipes, perception and model profiles,
reasoner configs, annotation files, parameter strings).

Two bounds keep a hostile file from exhausting memory or time:

- size: a file over ``MAX_BYTES`` is refused before it is parsed (at most that much is read,
  so ``/dev/zero`` or a multi-gigabyte file fails fast too);
- alias expansion: PyYAML builds an alias as a reference to the anchored object, so a
  "billion laughs" document loads in microseconds — and then explodes in whatever walks it
  as a tree (``dataclasses.asdict``, ``json.dumps`` of a manifest, validation). The composed
  node graph is measured before anything is constructed: the nodes the document has once
  all aliases are expanded, beyond the nodes written in it, may not exceed
  ``MAX_ALIAS_NODES``; a recursive anchor (``&a [*a]``), which expands without end, is
  refused too.

Every failure is a :class:`YAMLFileError` (a ``ValueError``) whose message names the file.

This module imports nothing else from frs_ros, so any layer may use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_BYTES = 8 << 20  # 8 MiB: the shipped configs are a few KiB, annotation files < 1 MiB
# Nodes that alias expansion may add: ordinary anchors (``<<: *defaults``) add tens to
# thousands; a bomb adds billions.
MAX_ALIAS_NODES = 100_000
_COUNT_CAP = 1 << 62  # expanded sizes saturate here instead of growing into huge integers

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YAMLFileError(ValueError):
    """A YAML file that cannot be loaded: unreadable, too large, malformed or an alias bomb."""


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def expanded_size(node: Node, limit: int) -> tuple[int, int]:
    """(nodes written, nodes once every alias is expanded) of a composed document; the
    second stops counting past ``limit``. Raises ``ValueError`` for a recursive anchor."""
    # Post-order walk without recursion (a deeply nested document must not overflow the
    # stack here), memoising each distinct node's expanded size: linear in the nodes
    # written, however large the expansion.
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        current, children_done = stack.pop()
        key = id(current)
        if children_done:
            on_path.discard(key)
            total = 1 + sum(size[id(c)] for c in _children(current))
            size[key] = min(total, limit + 1)
            continue
        if key in size:
            continue
        if key in on_path:
            raise ValueError("a recursive anchor (an alias inside the node it names)")
        on_path.add(key)
        stack.append((current, True))
        for child in _children(current):
            if id(child) in on_path:
                raise ValueError("a recursive anchor (an alias inside the node it names)")
            if id(child) not in size:
                stack.append((child, False))
    return len(size), size[id(node)]


def load_yaml_text(
    text: str | bytes,
    source: str = "<string>",
    *,
    max_bytes: int = MAX_BYTES,
    max_alias_nodes: int = MAX_ALIAS_NODES,
) -> Any:
    """One YAML document from ``text`` (``None`` when empty), within the size and alias
    bounds; errors name ``source``."""
    if len(text) > max_bytes:
        raise YAMLFileError(f"{source}: refused: larger than the {max_bytes}-byte limit for YAML")
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as err:
            raise YAMLFileError(f"{source}: not valid YAML: {_one_line(err)}") from None
        except RecursionError:
            raise YAMLFileError(f"{source}: YAML nested too deeply to parse") from None
        if node is None:
            return None
        try:
            written, expanded = expanded_size(node, limit=_COUNT_CAP)
        except ValueError as err:
            raise YAMLFileError(f"{source}: refused: {err}") from None
        if expanded - written > max_alias_nodes:
            raise YAMLFileError(
                f"{source}: refused: its aliases expand to more than {max_alias_nodes} extra "
                f"nodes ({written} written; an anchor/alias bomb?)"
            )
        try:
            return loader.construct_document(node)
        except yaml.YAMLError as err:
            raise YAMLFileError(f"{source}: not valid YAML: {_one_line(err)}") from None
        except RecursionError:
            raise YAMLFileError(f"{source}: YAML nested too deeply to load") from None
    finally:
        loader.dispose()


def load_yaml_file(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_BYTES,
    max_alias_nodes: int = MAX_ALIAS_NODES,
) -> Any:
    """The one YAML document in ``path`` (``None`` for an empty file), within the size and
    alias bounds (module docstring)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            # in chunks, never more than the bound, whatever the file is (a device, a pipe)
            chunks: list[bytes] = []
            size = 0
            while size <= max_bytes and (chunk := fh.read(min(1 << 16, max_bytes + 1 - size))):
                chunks.append(chunk)
                size += len(chunk)
    except OSError as err:
        raise YAMLFileError(f"{p}: cannot read: {err.strerror or err}") from None
    if size > max_bytes:
        raise YAMLFileError(f"{p}: refused: larger than the {max_bytes}-byte limit for YAML")
    data = b"".join(chunks)
    return load_yaml_text(data, str(p), max_bytes=max_bytes, max_alias_nodes=max_alias_nodes)


def load_yaml_mapping(path: str | os.PathLike[str], what: str = "YAML file") -> dict[str, Any]:
    """``load_yaml_file`` for a file that must hold a mapping (``{}`` when empty); ``what``
    names the kind of file in the error (``recipe``, ``perception config``)."""
    data = load_yaml_file(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise YAMLFileError(
            f"{what} {path} must be a YAML mapping (key: value), got a {type(data).__name__}"
        )
    return data


def _one_line(err: yaml.YAMLError) -> str:
    # PyYAML's messages span lines (problem, then a caret snippet); keep problem and place
    problem = getattr(err, "problem", None)
    context = getattr(err, "context", None)
    mark = getattr(err, "problem_mark", None)
    if problem and mark is not None:
        what = f"{context}, {problem}" if context else problem
        return f"{what} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(err).split())
