"""Text for a terminal: queries, labels and model output may hold control characters or
ANSI escape sequences (``\\x1b[2J`` clears the screen, ``\\x1b]8;;`` forges links) and lone
surrogates (which cannot even be encoded). They are shown as Python-style escapes instead.
"""

from __future__ import annotations

import unicodedata

# Cc: C0/C1 controls (ESC, BEL, CR, ...); Cs: lone surrogates; Cf: format characters such
# as the bidi overrides that reorder what is shown; Co/Cn: private use and unassigned.
_UNSAFE = frozenset({"Cc", "Cs", "Cf", "Co", "Cn"})


def escape_terminal(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control, format or surrogate character escaped (``\\x1b``,
    ``\\u202e``, ``\\udcff``); newlines (and tabs) kept only when ``keep_newlines``."""
    out = []
    for ch in text:
        if keep_newlines and ch in "\n\t":
            out.append(ch)
        elif unicodedata.category(ch) in _UNSAFE:
            code = ord(ch)
            out.append(
                f"\\x{code:02x}"
                if code < 0x100
                else f"\\u{code:04x}"
                if code < 0x10000
                else f"\\U{code:08x}"
            )
        else:
            out.append(ch)
    return "".join(out)
