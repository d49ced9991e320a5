"""Rewards (docs/DESIGN.md §5) on hand-made rollouts, and the judge's score parsing/caching."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from frs_ros.reasoning.runtime import Completion, ScriptedRuntime
from frs_ros.training import rewards
from frs_ros.training.judge import Judge, JudgeConfig, parse_score
from frs_ros.twin import FrameTwin, Twin, TwinObject
from frs_ros.twin import rle as rle_utils

R = "<reason>the mug is the cup</reason>"
P = '<plan>[{"tool": "find", "args": {"label": "mug"}}]</plan>'
RES = '<results>{"results":[{"tool":"find","result":[1]}]}</results>'
A = '<answer>{"ids": [1]}</answer>'


@pytest.mark.parametrize(
    "rollout",
    [R + A, R + P + RES + A, R + P + RES + P + RES + A, "\n" + R + "\n" + A + "\n"],
)
def test_format_reward_accepts_protocol(rollout: str) -> None:
    assert rewards.format_reward([rollout]) == [0.5]


@pytest.mark.parametrize(
    "rollout",
    [
        A,  # missing reason
        R,  # missing answer
        "<reason>x" + A,  # unclosed reason
        R + "<answer>{}",  # unclosed answer
        A + R,  # wrong order
        R + A + P + RES,  # answer before plan
        R + RES + A,  # results without plan
        R + P + A,  # plan without results
        "ok " + R + A,  # text outside tags
        R + " then " + A,
        R + A + " done",
        R + R + A,  # two reasons
        R + "<reason>nested</reason>" + A,
    ],
)
def test_format_reward_rejects_violations(rollout: str) -> None:
    assert rewards.format_reward([rollout]) == [-0.5]


def _twin(pred_pixels: int, gt_pixels: int, overlap: int) -> tuple[Twin, dict]:
    """One 10x20 frame: object 1 covers ``pred_pixels``; gt covers ``gt_pixels``, of which
    ``overlap`` are shared with object 1 (cells numbered row-major)."""
    h, w = 10, 20
    cells = np.arange(h * w)
    pred = np.isin(cells, range(pred_pixels)).reshape(h, w)
    gt = np.isin(cells, range(pred_pixels - overlap, pred_pixels - overlap + gt_pixels))
    frame = FrameTwin(0, 0.0, w, h, [TwinObject.from_mask(1, "mug", 0.9, pred)])
    return Twin([frame]), {0: rle_utils.encode(gt.reshape(h, w))} if gt_pixels else {}


def test_accuracy_threshold_is_strictly_above_half() -> None:
    twin, gt = _twin(100, 100, 67)  # IoU = 67 / 133 = 0.504
    assert rewards.rollout_iou(twin, R + A, gt) == pytest.approx(67 / 133)
    assert rewards.accuracy_reward([R + A], [twin], [gt]) == [1.0]
    twin, gt = _twin(100, 100, 65)  # IoU = 65 / 135 = 0.481
    assert rewards.accuracy_reward([R + A], [twin], [gt]) == [0.0]
    twin, gt = _twin(98, 100, 65)  # IoU = 65 / 133 = 0.489 (the "0.49" case)
    assert rewards.rollout_iou(twin, R + A, gt) == pytest.approx(0.4887, abs=1e-3)
    assert rewards.accuracy_reward([R + A], [twin], [gt]) == [0.0]
    twin, gt = _twin(100, 100, 68)  # IoU = 68 / 132 = 0.515 (the "0.51" case)
    assert rewards.accuracy_reward([R + A], [twin], [gt]) == [1.0]


def test_empty_target() -> None:
    twin, gt = _twin(50, 0, 0)
    empty = R + '<answer>{"ids": []}</answer>'
    assert rewards.accuracy_reward([empty, R + A], [twin] * 2, [gt] * 2) == [1.0, 0.0]
    # no parseable answer is never correct, not even for an empty target
    assert rewards.accuracy_reward([R, R + "<answer>x</answer>"], [twin] * 2, [gt] * 2) == [0, 0]


def test_total_reward_student() -> None:
    twin, gt = _twin(100, 100, 100)

    class Fixed:
        def score(self, student: str, teacher: str) -> float:
            return 0.8 if "<answer>" in student and "<answer>" in teacher else 0.0

    totals, parts = rewards.total_reward(
        [R + A, A], [twin] * 2, [gt] * 2, gamma=0.5, teacher_chain=[R + A, None], judge=Fixed()
    )
    assert parts["format"] == [0.5, -0.5] and parts["accuracy"] == [1.0, 1.0]
    assert totals == pytest.approx([0.5 + 1 + 0.4, -0.5 + 1 + 0.0])
    with pytest.raises(ValueError, match="judge"):
        rewards.total_reward([A], [twin], [gt], gamma=0.5)


def test_reasoning_chain_drops_engine_results() -> None:
    chain = rewards.reasoning_chain(R + P + RES + A)
    assert "<results>" not in chain and "find" in chain and chain.startswith("<reason>")


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("Score: 0.8", 0.8),
        ("score = 0.25\nbecause", 0.25),
        ("Score: 8/10", 0.8),
        ("I'd give it 7/10.", 0.7),
        ('{"score": 0.9, "why": "ok"}', 0.9),
        ("Score: 85%", 0.85),
        ("8", 0.8),
        ("Score: 1", 1.0),
        ("Score: 1.7", 1.0),  # clamped
        ("Score: -0.4", 0.0),  # clamped
        ("Score: 3/0", 0.0),
        ("no idea", 0.0),
        ("", 0.0),
    ],
)
def test_parse_score(text: str, score: float) -> None:
    assert parse_score(text) == pytest.approx(score)


@given(st.text(max_size=60))
def test_parse_score_always_in_unit_interval(text: str) -> None:
    assert 0.0 <= parse_score(text) <= 1.0


class Flaky(ScriptedRuntime):
    """Fails with a transport error ``fails`` times, then answers."""

    def __init__(self, fails: int, reply: str) -> None:
        super().__init__([])
        self.fails, self.reply, self.n = fails, reply, 0

    def complete(self, text, *, stop, max_new_tokens, deadline=None) -> Completion:
        self.n += 1
        if self.n <= self.fails:
            raise ConnectionError("connection reset")
        return Completion(self.reply, 3, "stop")


def test_judge_retries_caches_and_fails_to_zero(tmp_path) -> None:
    cfg = JudgeConfig(judge_id="j", retries=2, backoff_s=0.0, cache_dir=str(tmp_path))
    rt = Flaky(2, "Score: 0.6")
    judge = Judge(rt, cfg)
    assert judge.score("student", "teacher") == pytest.approx(0.6)
    assert rt.n == 3  # two transport errors, then the answer
    assert judge.score("student", "teacher") == pytest.approx(0.6)
    assert rt.n == 3  # cached on disk
    cached = list(tmp_path.rglob("*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["score"] == 0.6
    # a different judge id is a different cache key
    assert Judge(Flaky(0, "Score: 0.1"), JudgeConfig(judge_id="k", cache_dir=str(tmp_path))).score(
        "student", "teacher"
    ) == pytest.approx(0.1)
    # every attempt failing gives 0 and is not cached
    dead = Judge(
        Flaky(99, ""), JudgeConfig(judge_id="d", retries=1, backoff_s=0.0, cache_dir=str(tmp_path))
    )
    assert dead.score("a", "b") == 0.0 and dead.runtime.n == 2
    assert len(list(tmp_path.rglob("*.json"))) == 2


@pytest.mark.parametrize(
    "body",
    [
        '{"ids": [NaN]}',
        '{"ids": [Infinity]}',
        '{"ids": [1e400]}',
        '{"ids": [4294967296]}',  # beyond int32
        "[" * 1200 + "]" * 1200,
        '{"ids": "1"}',
        "",
    ],
)
def test_format_reward_is_negative_for_an_unparseable_answer(body: str) -> None:
    rollout = R + f"<answer>{body}</answer>"
    assert rewards.answer_ids(rollout) is None
    assert rewards.format_reward([rollout]) == [rewards.FORMAT_BAD]
    # the same tags around a parseable answer earn the bonus: the answer decides
    assert rewards.format_reward([R + A]) == [rewards.FORMAT_OK]
