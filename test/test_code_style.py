"""Formatter opt-outs need a reason: a `# fmt: skip` / `# fmt: off` keeps a hand layout
only where the comment (or the line above) says why, e.g. `# fmt: skip (a table: one row
per case)`. Everything else is laid out by `ruff format`."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ["frs_ros", "test", "benchmarks", "launch", "examples", "scripts"]
OPT_OUT = re.compile(r"#\s*fmt:\s*(skip|off)\b(.*)$")


def test_every_formatter_opt_out_says_why() -> None:
    bare = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            lines = path.read_text().splitlines()
            for i, line in enumerate(lines):
                match = OPT_OUT.search(line)
                if match is None or path == Path(__file__).resolve():
                    continue
                reason_here = match.group(2).strip(" #-—:()")
                reason_above = i > 0 and lines[i - 1].strip().startswith("#")
                if not (reason_here or reason_above):
                    bare.append(f"{path.relative_to(ROOT)}:{i + 1}")
    assert bare == []
