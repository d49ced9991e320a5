"""Every shell command in README.md and docs/*.md is run here, or marked as not run here.

A fenced ``bash`` / ``sh`` / ``shell`` / ``console`` block is preceded by one marker (blank
lines and other HTML comments, such as ``.ci/run``'s ``<!-- ci:install -->``, may sit
between the marker and the fence):

- ``<!-- docs:run -->``: the block runs here as written (``bash -e``), in a fresh folder
  that holds links to the checkout's tracked files and ``.venv``, with the virtual
  environment's ``bin`` first on ``PATH`` and the hub offline; every command must succeed.
- ``<!-- docs:long REASON -->``: as ``docs:run``, but only with ``FRS_DOCS_LONG=1`` (the
  block takes minutes on 2 cores).
- ``<!-- docs:skip REASON -->``: never run here (real weights, a download, a GPU, a ROS
  install, the test suite itself); the reason says which.

A new unmarked block, a marker without a reason or a run block that fails fails this file.
The README's main job (the ``frs segment`` part of its install command) runs here too, and
its visible output is checked: a tool round within the token budget, a captioned overlay,
no warnings but the tiny models' own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"bash", "sh", "shell", "console"}
MARKER = re.compile(r"<!--\s*docs:(\S+)\s*(.*?)\s*-->")
RUN_TIMEOUT_S = 300
LONG_TIMEOUT_S = 3600
# what a command looks like, to catch one in an untagged block
COMMAND_START = re.compile(r"^\s*(\$ |frs |python|pip |\.venv/|ros2 |colcon |cd |source )")


@dataclass(frozen=True)
class Block:
    file: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marker: str  # run | long | skip | "" (none)
    reason: str

    @property
    def where(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"


def parse_blocks(path: Path, text: str | None = None) -> list[Block]:
    """The fenced blocks of a markdown file, each with the docs marker above it."""
    lines = (path.read_text() if text is None else text).splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)(```+)\s*([\w-]*)", lines[i])
        if not fence:
            i += 1
            continue
        ticks, lang = fence.group(2), fence.group(3).lower()
        end = next(
            (j for j in range(i + 1, len(lines)) if lines[j].strip().startswith(ticks)),
            len(lines),
        )
        marker, reason = "", ""
        k = i - 1
        while k >= 0 and (not lines[k].strip() or lines[k].strip().startswith("<!--")):
            found = MARKER.search(lines[k])
            if found:
                marker, reason = found.group(1), found.group(2)
                break
            k -= 1
        body = "\n".join(lines[i + 1 : end])
        blocks.append(Block(path, i + 1, lang, body, marker, reason))
        i = end + 1
    return blocks


def problems(blocks: list[Block]) -> list[str]:
    """What is wrong with the blocks' markers: an unmarked shell block, an unknown marker,
    a skip or long marker without its reason, a command in an untagged block."""
    out = []
    for b in blocks:
        if b.lang in SHELL:
            if not b.marker:
                out.append(f"{b.where}: shell block without a docs:run/long/skip marker")
            elif b.marker not in ("run", "long", "skip"):
                out.append(f"{b.where}: unknown marker docs:{b.marker}")
            elif b.marker != "run" and not b.reason:
                out.append(f"{b.where}: docs:{b.marker} needs a reason")
        elif not b.lang:
            first = next((line for line in b.text.splitlines() if line.strip()), "")
            if COMMAND_START.match(first):
                out.append(f"{b.where}: a command in an untagged block (tag it bash)")
    return out


ALL = [b for doc in DOCS for b in parse_blocks(doc)]


def test_every_shell_block_is_marked() -> None:
    assert problems(ALL) == []


def test_the_checker_finds_unmarked_and_unexplained_blocks() -> None:
    doc = ROOT / "README.md"
    text = "\n".join(
        [
            "```bash",
            "frs segment x -q y",
            "```",
            "<!-- docs:skip -->",
            "```sh",
            "frs models get z",
            "```",
            "<!-- docs:skip needs real weights -->",
            "<!-- ci:install -->",
            "",
            "```bash",
            "frs eval a",
            "```",
            "```",
            "python -m frs_ros.cli",
            "```",
        ]
    )
    found = problems(parse_blocks(doc, text))
    assert found == [
        "README.md:1: shell block without a docs:run/long/skip marker",
        "README.md:5: docs:skip needs a reason",
        "README.md:14: a command in an untagged block (tag it bash)",
    ]
    assert parse_blocks(doc, text)[2].reason == "needs real weights"


def _workdir(tmp_path: Path) -> Path:
    """A fresh folder that looks like the checkout: links to its tracked top-level files
    and to the virtual environment; outputs (out/, data/, runs/, models/) land in it."""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for top in sorted({name.split("/")[0] for name in tracked}):
        (tmp_path / top).symlink_to(ROOT / top)
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    return tmp_path


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HF_HUB_OFFLINE"] = "1"
    env["VIRTUAL_ENV"] = sys.prefix
    return env


def _run_block(block: Block, tmp_path: Path, timeout: int) -> None:
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block.text],
        cwd=_workdir(tmp_path),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, (
        f"{block.where} failed (exit {proc.returncode}):\n{block.text}\n"
        f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    )


RUN = [b for b in ALL if b.lang in SHELL and b.marker == "run"]
LONG = [b for b in ALL if b.lang in SHELL and b.marker == "long"]


@pytest.mark.slow
@pytest.mark.parametrize("block", RUN, ids=[b.where for b in RUN])
def test_run_blocks_succeed(block: Block, tmp_path: Path) -> None:
    _run_block(block, tmp_path, RUN_TIMEOUT_S)


@pytest.mark.skipif(os.environ.get("FRS_DOCS_LONG") != "1", reason="FRS_DOCS_LONG=1 runs these")
@pytest.mark.parametrize("block", LONG, ids=[b.where for b in LONG])
def test_long_blocks_succeed(block: Block, tmp_path: Path) -> None:
    _run_block(block, tmp_path, LONG_TIMEOUT_S)


def _readme_main_job() -> str:
    """The ``frs segment`` command of the README's install line (after its ``&&``s)."""
    install = next(
        b for b in parse_blocks(ROOT / "README.md") if "ci:install" in _above(b, ROOT / "README.md")
    )
    (command,) = [c for c in install.text.strip().split(" && ") if " segment " in c]
    return command


def _above(block: Block, path: Path) -> str:
    lines = path.read_text().splitlines()
    return "\n".join(lines[max(0, block.line - 4) : block.line - 1])


@pytest.mark.slow
def test_readme_main_job_shows_that_the_path_ran(tmp_path: Path) -> None:
    command = _readme_main_job()
    assert command.startswith(".venv/bin/frs segment") and "--max-new-tokens 64" in command
    work = _workdir(tmp_path)
    proc = subprocess.run(
        ["bash", "-c", command],
        cwd=work,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((work / "out/example/result.json").read_text())
    # the tiny reasoner's turn stays in the protocol and runs a tool within the budget
    assert result["rounds"] >= 1 and result["tokens"] <= 64
    assert "<results>" in result["rollout"]
    assert "answer:" in proc.stdout and "wrote out/example/result.json" in proc.stdout
    # the only warnings are the tiny models' own (random weights): none from a library
    # call of ours (past_key_values), and no progress bar stuck at 1 of 64 frames
    warnings = [
        line
        for line in proc.stderr.splitlines()
        if re.search(r"warn", line, re.IGNORECASE) and "MEANINGLESS" not in line
    ]
    assert warnings == [], proc.stderr
    assert "past_key_values" not in proc.stderr and "1/64" not in proc.stderr
    # the overlay differs from the input along the bottom: the caption band
    image = np.asarray(Image.open(work / "examples/kitchen_image/image.png").convert("RGB"))
    overlay = np.asarray(Image.open(work / "out/example/overlay.png").convert("RGB"))
    assert overlay.shape == image.shape
    band = slice(image.shape[0] - 10, image.shape[0])
    assert np.abs(overlay[band].astype(int) - image[band]).mean() > 20
