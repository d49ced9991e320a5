"""Every "DESIGN.md §N" the code and docs cite names a section docs/DESIGN.md has."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["frs_ros", "test", "benchmarks", "config", "msg", "srv", "docs", "launch"]
FILES = ["CMakeLists.txt", "package.xml", "README.md"]
SUFFIXES = {".py", ".md", ".yaml", ".msg", ".srv", ".txt", ".xml"}


def _files() -> list[Path]:
    out = [ROOT / f for f in FILES]
    for folder in SOURCES:
        out += [p for p in (ROOT / folder).rglob("*") if p.suffix in SUFFIXES and p.is_file()]
    return out


def test_every_cited_section_exists() -> None:
    design = (ROOT / "docs" / "DESIGN.md").read_text()
    sections = set(re.findall(r"^## (\d+)\. ", design, re.M))
    assert sections == {str(n) for n in range(1, 11)}
    cited: dict[str, set[str]] = {}
    for path in _files():
        text = path.read_text(errors="replace")
        for match in re.finditer(r"DESIGN\.md\)?((?:,? §\d+)+)", text):
            where = str(path.relative_to(ROOT))
            cited.setdefault(where, set()).update(re.findall(r"§(\d+)", match.group(1)))
            # outside docs/ a bare "DESIGN.md" would name a file that is not there
            if not where.startswith("docs/"):
                start = match.start()
                assert text[start - 5 : start] == "docs/", f"{where}: cite docs/DESIGN.md"
    assert cited, "no citation found: the pattern is wrong"
    missing = {f: sorted(s - sections) for f, s in cited.items() if s - sections}
    assert missing == {}
