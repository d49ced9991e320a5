"""A small reader of CMakeLists.txt for the package tests: the list of command invocations
with their arguments, as CMake itself splits them — so the tests check what the build does,
not how the file is wrapped or indented.

Covers the CMake language the package uses: line comments, bracket comments, quoted
arguments (with escapes), unquoted arguments and nested parentheses inside arguments.
Variable references are kept as written (``${PROJECT_NAME}``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_BRACKET = re.compile(r"\[(=*)\[.*?\]\1\]", re.S)
_COMMAND = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


@dataclass(frozen=True)
class Command:
    name: str  # lower case: CMake command names are case-insensitive
    args: tuple[str, ...]
    line: int

    def after(self, keyword: str, *, until: set[str] = frozenset()) -> list[str]:
        """The arguments after ``keyword`` up to the next of ``until`` (or the end)."""
        if keyword not in self.args:
            return []
        out = []
        for arg in self.args[self.args.index(keyword) + 1 :]:
            if arg in until:
                break
            out.append(arg)
        return out


def _strip_comments(text: str) -> str:
    """Comments become spaces (newlines kept, so line numbers stay right)."""
    out, i, quoted = [], 0, False
    while i < len(text):
        ch = text[i]
        if quoted:
            out.append(ch)
            if ch == "\\":
                out.append(text[i + 1])
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
            out.append(ch)
        elif ch == "#":
            bracket = _BRACKET.match(text, i + 1)
            end = bracket.end() if bracket else text.find("\n", i)
            end = len(text) if end == -1 else end
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _arguments(text: str, start: int) -> tuple[list[str], int]:
    """Arguments of the invocation whose "(" is just before ``start``; and the index after
    its ")"."""
    args, i, depth = [], start, 0
    while True:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            depth += 1
            i += 1
        elif ch == ")":
            if depth == 0:
                return args, i + 1
            depth -= 1
            i += 1
        elif ch == '"':
            j, value = i + 1, []
            while text[j] != '"':
                if text[j] == "\\":
                    j += 1
                value.append(text[j])
                j += 1
            args.append("".join(value))
            i = j + 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in '()"':
                j += 1
            args.append(text[i:j])
            i = j


def parse(path: Path) -> list[Command]:
    text = _strip_comments(path.read_text())
    commands, pos = [], 0
    while match := _COMMAND.search(text, pos):
        args, pos = _arguments(text, match.end())
        line = text.count("\n", 0, match.start()) + 1
        commands.append(Command(match.group(1).lower(), tuple(args), line))
    return commands
