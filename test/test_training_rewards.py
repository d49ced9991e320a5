"""Rewards (docs/DESIGN.md §5) on hand-made rollouts, and the judge's score parsing/caching."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from frs_ros.benchmark.generator import generate_split
from frs_ros.benchmark.heldout import load_heldout
from frs_ros.reasoning.runtime import Completion, ScriptedRuntime
from frs_ros.samples import Sample
from frs_ros.training import rewards
from frs_ros.training.config import GRPOConfig
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


EMPTY = R + '<answer>{"ids": []}</answer>'


class FixedJudge:
    def score(self, student: str, teacher: str) -> float:
        return 0.8 if "<answer>" in student and "<answer>" in teacher else 0.0


def _two_objects() -> tuple[Twin, dict]:
    """Object 1 is the target (gt), object 2 a disjoint wrong answer."""
    m1, m2 = np.zeros((10, 20), bool), np.zeros((10, 20), bool)
    m1[:5, :10], m2[5:, 10:] = True, True
    objects = [TwinObject.from_mask(1, "mug", 0.9, m1), TwinObject.from_mask(2, "cup", 0.9, m2)]
    return Twin([FrameTwin(0, 0.0, 20, 10, objects)]), {0: rle_utils.encode(m1)}


def _answer(ids: list[int]) -> str:
    return R + f'<answer>{{"ids": {ids}}}</answer>'


def test_empty_answer_on_a_positive_scores_as_a_wrong_answer() -> None:
    twin, gt = _two_objects()
    empty, wrong, right = EMPTY, _answer([2]), _answer([1])
    cfg = GRPOConfig(gamma=0.5)  # every reward function of the student stage
    funcs, weights = cfg.rewards()
    totals, parts = rewards.weighted_rewards(
        [empty, wrong, right],
        funcs,
        weights,
        twin=[twin] * 3,
        gt=[gt] * 3,
        negative_weight=cfg.negative_weight,
        teacher_chain=[right] * 3,
        judge=FixedJudge(),
    )
    for name, values in parts.items():
        assert values[0] == values[1], name  # empty == wrong, function by function
    assert totals[0] == totals[1] < totals[2]
    assert parts["iou"] == [0.0, 0.0, 1.0] and parts["success"] == [0.0, 0.0, 1.0]


def test_iou_reward_is_graded_and_success_is_the_paper_threshold() -> None:
    for overlap in (30, 60, 90):
        twin, gt = _twin(100, 100, overlap)
        iou = overlap / (200 - overlap)
        assert rewards.iou_reward([R + A], [twin], [gt]) == [pytest.approx(iou)]
        assert rewards.success_reward([R + A], [twin], [gt]) == [float(iou > 0.5)]
    twin, gt = _twin(50, 0, 0)  # a negative: abstaining is right, any mask wrong
    assert rewards.iou_reward([EMPTY, R + A, R], [twin] * 3, [gt] * 3) == [1.0, 0.0, 0.0]


def test_weights_and_the_negative_weight_are_applied() -> None:
    twin, gt = _two_objects()
    neg_twin, neg_gt = _twin(50, 0, 0)
    rollouts = [_answer([1]), R + "<answer>x</answer>", EMPTY]
    totals, parts = rewards.weighted_rewards(
        rollouts,
        ["format", "iou"],
        [2.0, 3.0],
        twin=[twin, twin, neg_twin],
        gt=[gt, gt, neg_gt],
        negative_weight=0.25,
    )
    assert parts["format"] == [0.5, -0.5, 0.5] and parts["iou"] == [1.0, 0.0, 1.0]
    assert "success" in parts  # logged though not a reward
    assert totals == pytest.approx([2 * 0.5 + 3 * 1, 2 * -0.5, 0.25 * (2 * 0.5 + 3 * 1)])
    with pytest.raises(ValueError, match="unknown reward"):
        rewards.weighted_rewards(rollouts, ["nope"], [1.0], twin=[twin] * 3, gt=[gt] * 3)
    with pytest.raises(ValueError, match="judge"):
        rewards.weighted_rewards(rollouts, ["reasoning"], [1.0], twin=[twin] * 3, gt=[gt] * 3)


@pytest.mark.slow
def test_neither_always_nor_never_abstaining_beats_a_right_policy() -> None:
    """Expected reward of three policies on a mixed batch of generated samples (a quarter
    negatives), with the shipped default rewards."""
    batch = generate_split("validation", 4, seed=5, negative_fraction=0.25, progress=False)
    negatives = sum(s.negative for s in batch)
    assert 0 < negatives < len(batch)

    def largest(s: Sample) -> list[int]:
        return [max(s.twin.latest.objects, key=lambda o: o.area).id]

    policies = {
        "right": lambda s: _answer(s.gt_ids),
        "always_empty": lambda s: EMPTY,
        "never_empty": lambda s: _answer(largest(s) if s.negative else s.gt_ids),
    }
    cfg = GRPOConfig()
    funcs, weights = cfg.rewards()
    expected = {}
    for name, policy in policies.items():
        totals, _ = rewards.weighted_rewards(
            [policy(s) for s in batch],
            funcs,
            weights,
            twin=[s.twin for s in batch],
            gt=[s.gt for s in batch],
            negative_weight=cfg.negative_weight,
        )
        expected[name] = sum(totals) / len(totals)
    assert expected["always_empty"] < expected["right"]
    assert expected["never_empty"] < expected["right"]


@pytest.mark.slow
def test_on_the_heldout_set_abstaining_no_longer_beats_guessing() -> None:
    """The reward the SmolLM2 student gamed (format + binary accuracy, negatives weighted
    1) made always answering nothing pay more than always naming the largest object; the
    shipped rewards do not (expected rewards on the frozen held-out set)."""
    batch = load_heldout()

    def largest(s: Sample) -> list[int]:
        return [max(s.twin.latest.objects, key=lambda o: o.area).id]

    def expected(policy, funcs, weights, negative_weight) -> float:
        totals, _ = rewards.weighted_rewards(
            [policy(s) for s in batch],
            funcs,
            weights,
            twin=[s.twin for s in batch],
            gt=[s.gt for s in batch],
            negative_weight=negative_weight,
        )
        return sum(totals) / len(totals)

    cfg = GRPOConfig()
    shipped = (*cfg.rewards(), cfg.negative_weight)
    old = (["format", "success"], [1.0, 1.0], 1.0)
    empty, guess = (lambda s: EMPTY), (lambda s: _answer(largest(s)))
    assert expected(empty, *old) > expected(guess, *old)
    assert expected(empty, *shipped) < expected(guess, *shipped)
    right = expected(lambda s: _answer(s.gt_ids), *shipped)
    assert right > expected(empty, *shipped) and right > expected(guess, *shipped)


def test_gamma_adds_the_judge_term() -> None:
    assert GRPOConfig().rewards() == (["format", "iou"], [1.0, 1.0])
    assert GRPOConfig(gamma=0.5).rewards() == (["format", "iou", "reasoning"], [1.0, 1.0, 0.5])
    cfg = GRPOConfig(reward_funcs=["iou", "reasoning"], reward_weights=[1.0, 0.3])
    assert cfg.rewards() == (["iou", "reasoning"], [1.0, 0.3])
    for bad in (
        {"reward_funcs": ["iou"], "reward_weights": [1.0, 2.0]},
        {"reward_funcs": ["accuracy!"], "reward_weights": [1.0]},
        {"reward_funcs": ["reasoning"], "reward_weights": [1.0], "gamma": 0.5},
        {"scale_rewards": "batch"},
        {"num_generations": 1},
    ):
        with pytest.raises(ValueError):
            GRPOConfig(**bad)


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
