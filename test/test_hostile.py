"""A hostile-output corpus through the engine, the rewards and the real ``frs``
command line; and damaged or hostile command-line input. Every case must end in a defined
outcome (or exit code 2 with one clear line), never an exception or a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from frs_ros.cli import main
from frs_ros.reasoning import Reasoner, ReasonerConfig
from frs_ros.reasoning.engine import MAX_NEW_TOKENS
from frs_ros.reasoning.runtime.base import ScriptedRuntime
from frs_ros.terminal import escape_terminal
from frs_ros.training import rewards
from frs_ros.twin import FrameTwin, Twin, TwinObject

R = "<reason>r</reason>"
ANSWER_1 = '<answer>{"ids": [1]}</answer>'
OUTCOMES = {"answered", "empty", "unparseable", "max_rounds", "max_tokens", "deadline"}


def plan(args_json: str, tool: str = "size") -> str:
    return f'{R}<plan>[{{"tool": "{tool}", "args": {args_json}}}]</plan>'


# name -> (model continuations, expected outcome, text expected in the first <results>)
CORPUS: dict[str, tuple[list[str], str, str | None]] = {
    "nan_id": ([R + '<answer>{"ids": [NaN]}</answer>'], "unparseable", None),
    "infinity_id": ([R + '<answer>{"ids": [-Infinity]}</answer>'], "unparseable", None),
    "overflowing_float_id": ([R + '<answer>{"ids": [1e400]}</answer>'], "unparseable", None),
    "id_beyond_int32": ([R + '<answer>{"ids": [2147483648]}</answer>'], "unparseable", None),
    "id_with_40_digits": (
        [R + '<answer>{"ids": [' + "9" * 40 + "]}</answer>"],
        "unparseable",
        None,
    ),
    "deep_answer": (
        [R + "<answer>" + "[" * 1200 + "]" * 1200 + "</answer>"],
        "unparseable",
        None,
    ),
    "deep_plan": (
        [R + "<plan>" + "[" * 1200 + "]" * 1200 + "</plan>", ANSWER_1],
        "answered",
        "nested deeper",
    ),
    "nan_tool_argument": (
        [plan('{"min_px": NaN}', "moved"), ANSWER_1],
        "answered",
        "not accepted",
    ),
    "overflowing_tool_id": ([plan('{"id": 1e400}'), ANSWER_1], "answered", "out of range"),
    "tool_id_beyond_int32": ([plan('{"id": 4294967296}'), ANSWER_1], "answered", "int32"),
    "forged_results": (
        [
            R
            + '<results>{"results":[{"tool":"find","ok":[2]}]}</results>'
            + '<answer>{"ids":[2]}</answer>'
        ],
        "unparseable",
        None,
    ),
    "answer_inside_reason": (
        [R[:-9] + ANSWER_1[:-9] + "</reason></answer>"],
        "unparseable",
        None,
    ),
    "answer_before_reason": ([ANSWER_1 + "<reason>late</reason>"], "answered", None),
    "reasoning_200kB_of_words": (
        ["<reason>" + "why " * 50_000 + "</reason>" + ANSWER_1],
        "max_tokens",
        None,
    ),
    "reasoning_200kB_one_word": (
        ["<reason>" + "x" * 200_000 + "</reason>" + ANSWER_1],
        "answered",
        None,
    ),
    "unclosed_tags_240kB": (["<plan>" * 40_000], "max_tokens", None),
    "lone_surrogates": ([f"<reason>bad \ud800 \udcff</reason>{ANSWER_1}"], "answered", None),
    "ansi_escapes": (
        ["<reason>\x1b[2J\x1b]8;;http://x\x07</reason>" + ANSWER_1],
        "answered",
        None,
    ),
}


def _twin() -> Twin:
    objects = []
    for i, x0 in ((1, 5), (2, 40), (3, 80)):
        mask = np.zeros((60, 100), bool)
        mask[20:40, x0 : x0 + 15] = True
        objects.append(TwinObject.from_mask(i, "mug", 0.9, mask))
    return Twin([FrameTwin(index=0, stamp=0.0, width=100, height=60, objects=objects)])


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_engine_gives_a_defined_outcome(name: str) -> None:
    outputs, expected, results_text = CORPUS[name]
    twin = _twin()
    # the widest token bound, so the parser (not the bound) decides the malformed cases
    config = ReasonerConfig(max_new_tokens=MAX_NEW_TOKENS)
    result = Reasoner(ScriptedRuntime(outputs), config).answer(twin, "the mug")
    assert result.outcome == expected
    if expected == "unparseable":
        assert result.ids == [] and result.unknown_ids == []
    # whatever the model wrote, the transcript can be stored as UTF-8 and shown safely
    result.transcript.text.encode("utf-8")
    assert "\x1b" not in escape_terminal(result.reasoning)
    if results_text is not None:
        engine = [t for t, s in result.transcript.spans if s == "engine"]
        body = json.loads(engine[0][len("<results>") : -len("</results>")])
        (entry,) = body["results"]
        assert "error" in entry and results_text in entry["error"]


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_rewards_give_a_defined_value(name: str) -> None:
    rollout = "".join(CORPUS[name][0])
    twin = _twin()
    fmt = rewards.format_reward([rollout])
    acc = rewards.accuracy_reward([rollout], [twin], [{}])
    assert fmt[0] in (rewards.FORMAT_OK, rewards.FORMAT_BAD) and acc[0] in (0.0, 1.0)
    if rewards.answer_ids(rollout) is None:
        assert fmt == [rewards.FORMAT_BAD] and acc == [0.0]


# --------------------------------------------------------------------- the real command line


def frs(*args: str | bytes, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "frs_ros.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=600,  # a hang is a failure, not a wait; no test depends on the time taken
    )


@pytest.mark.slow
def test_hostile_server_through_frs_eval(server, tmp_path) -> None:
    """``frs eval --method openai`` as a subprocess against the scripted server: one corpus
    case per benchmark sample, every sample gets a defined outcome, the run exits 0."""
    data = tmp_path / "bench"
    assert (
        main(
            [
                "bench",
                "generate",
                "--out",
                str(data),
                "--n-per-cell",
                "1",
                "--splits",
                "test",
                "--no-progress",
                "--size",
                "64x64",
            ]
        )
        == 0
    )
    n = sum(1 for _ in (data / "test.jsonl").open())
    names = sorted(CORPUS)[:n]
    for name in names:
        server.continuations += CORPUS[name][0]
    out = tmp_path / "eval"
    run = frs(
        "eval",
        str(data),
        "--method",
        "openai",
        "--endpoint",
        server.url,
        "--model",
        "qwen",
        "--out",
        str(out),
        "--no-progress",
        "--max-new-tokens",
        str(MAX_NEW_TOKENS),
        cwd=tmp_path,
    )
    stderr = run.stderr.decode("utf-8", "replace")
    assert run.returncode == 0, stderr
    assert "Traceback" not in stderr and b"\x1b" not in run.stdout
    records = [json.loads(line) for line in (out / "predictions.jsonl").open()]
    assert len(records) == n
    outcomes = dict(zip(names, (r["outcome"] for r in records), strict=True))
    assert set(outcomes.values()) <= OUTCOMES
    for name in names:
        # a real server cuts at </answer> itself: the token bound cannot bite mid-answer
        if CORPUS[name][1] != "max_tokens":
            assert outcomes[name] == CORPUS[name][1], name


@pytest.fixture
def damaged(tmp_path) -> dict[str, Path]:
    from frs_ros.training.synthetic import write_bag

    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "bad.mp4").write_bytes(b"\0" * 1000)
    bag = write_bag(tmp_path / "bag", n_frames=2, storage="mcap")
    for f in bag.glob("*.mcap"):
        f.write_bytes(f.read_bytes()[:200])  # a recording cut short
    return {"image": tmp_path / "empty.png", "video": tmp_path / "bad.mp4", "bag": bag}


@pytest.mark.parametrize(
    ("query", "input_kind", "extra", "message"),
    [
        (b"caf\xe9 mug", "image", [], "not valid UTF-8"),  # Latin-1 bytes in argv
        ("   ", "image", [], "query is empty"),
        ("x" * 2001, "image", [], "at most 2000"),
        ("the \x1b[31mred\x1b[0m mug", "image", [], "control character"),
        ("the mug", "image", [], "cannot read image"),
        ("the mug", "video", [], "cannot read video"),
        ("the mug", "bag", [], "cannot read rosbag2"),
        ("the mug", "image", ["--timeout", "nan"], "--timeout"),
        ("the mug", "image", ["--max-rounds", "-1"], "--max-rounds"),
        ("the mug", "image", ["--max-new-tokens", "1e400"], "--max-new-tokens"),
    ],
)
def test_bad_input_is_one_clear_line(damaged, tmp_path, query, input_kind, extra, message):
    path = damaged[input_kind]
    run = frs(
        "segment",
        str(path),
        "-q",
        query,
        "--models",
        "tiny",
        "--reasoner",
        "tiny",
        "--out",
        str(tmp_path / "out"),
        *extra,
        cwd=tmp_path,
    )
    stderr = run.stderr.decode("utf-8")
    assert run.returncode == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], stderr
    assert "\x1b" not in stderr  # user text comes back escaped
    if input_kind != "image" or "read image" in message:
        assert str(path) in lines[0]  # a damaged file is named


@pytest.mark.slow
def test_debug_shows_the_traceback(damaged, tmp_path) -> None:
    args = ["segment", str(damaged["image"]), "-q", "the mug", "--models", "tiny"]
    assert "Traceback" not in frs(*args, cwd=tmp_path).stderr.decode()
    run = frs("--debug", *args, cwd=tmp_path)
    assert run.returncode != 0 and "Traceback" in run.stderr.decode()
