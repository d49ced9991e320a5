"""Rewards of docs/DESIGN.md §5 (FastReasonSeg §3), as plain functions like TRL reward functions:
``f(completions, **columns) -> list[float]``, one value per completion.

- format: +0.5 when the rollout follows the protocol of §4 exactly (tag pairs present,
  closed, ordered: reason, (plan results)*, answer, nothing but whitespace outside tags;
  ``protocol.check_format``) *and* its ``<answer>`` parses (``answer_ids``: the engine's
  bounded parser), else -0.5 — well-placed tags around an unparseable answer earn nothing.
- accuracy: 1 when IoU(predicted union mask, ground truth) > 0.5 (strictly), else 0. The
  masks of a video are compared over the whole window (intersections and unions summed over
  frames). Empty target: an explicit empty answer (``"ids": []``) for an empty ground truth
  has IoU 1 (correct); any mask for an empty ground truth has IoU 0. A rollout without a
  parseable ``<answer>`` gets 0, even for an empty target — staying silent is not answering.
- student total: format + accuracy + gamma * reasoning (gamma = 0.5), reasoning = the
  judge's 0..1 score of the student chain against the teacher chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from frs_ros.metrics import iou_counts
from frs_ros.reasoning import answer_masks, protocol
from frs_ros.twin import RLE, Twin
from frs_ros.twin import rle as rle_utils

FORMAT_OK, FORMAT_BAD = 0.5, -0.5
ACCURACY_IOU = 0.5
GAMMA = 0.5

GroundTruth = Mapping[int, RLE]  # frame index -> union mask; frames absent = empty


def answer_ids(rollout: str) -> list[int] | None:
    """Ids of the last ``<answer>`` block, or ``None`` when there is none or it is malformed
    (the engine's parser: finite numbers, int32 ids, bounded size and depth)."""
    body = protocol.last_block(rollout, protocol.ANSWER)
    return None if body is None else protocol.parse_answer(body)


def prediction_iou(twin: Twin, ids: Sequence[int], gt: GroundTruth) -> float:
    """IoU of the union mask of ``ids`` against ``gt`` over all frames of ``twin``.

    Both empty gives 1.0 (the empty-target convention of docs/DESIGN.md §6).
    """
    inter = union = 0
    for fm, frame in zip(answer_masks(twin, list(ids)).frames, twin.frames, strict=True):
        g = gt.get(frame.index)
        gmask = rle_utils.decode(g) if g is not None else None
        pmask = fm.union_array()
        if gmask is None:
            union += int(pmask.sum())
            continue
        i, u = iou_counts(pmask, gmask)
        inter, union = inter + i, union + u
    return 1.0 if union == 0 else inter / union


def rollout_iou(twin: Twin, rollout: str, gt: GroundTruth) -> float:
    """IoU of a rollout's answer; 0.0 when it has no parseable answer."""
    ids = answer_ids(rollout)
    return 0.0 if ids is None else prediction_iou(twin, ids, gt)


def format_ok(rollout: str) -> bool:
    """The protocol is followed and the answer parses."""
    return protocol.check_format(rollout) and answer_ids(rollout) is not None


def format_reward(completions: Sequence[str], **_: Any) -> list[float]:
    return [FORMAT_OK if format_ok(c) else FORMAT_BAD for c in completions]


def accuracy_from_iou(iou: float) -> float:
    return 1.0 if iou > ACCURACY_IOU else 0.0


def accuracy_reward(
    completions: Sequence[str], twin: Sequence[Twin], gt: Sequence[GroundTruth], **_: Any
) -> list[float]:
    """``twin`` and ``gt`` are per completion (TRL passes dataset columns that way)."""
    if not len(completions) == len(twin) == len(gt):
        raise ValueError(
            f"accuracy_reward needs one twin and gt per completion: {len(completions)} "
            f"completions, {len(twin)} twins, {len(gt)} gts"
        )
    return [
        accuracy_from_iou(rollout_iou(t, c, g))
        for c, t, g in zip(completions, twin, gt, strict=True)
    ]


def reasoning_chain(rollout: str) -> str:
    """The model-written chain of a rollout: its reason, plan and answer blocks (the
    engine's ``<results>`` are data, not reasoning, and are left out)."""
    parts = [f"<{tag}>{body}</{tag}>" for tag, body in _model_blocks(rollout)]
    return "\n".join(parts)


def _model_blocks(rollout: str) -> list[tuple[str, str]]:
    found = []
    for tag in (protocol.REASON, protocol.PLAN, protocol.ANSWER):
        pattern = f"<{tag}>"
        start = 0
        while (i := rollout.find(pattern, start)) >= 0:
            j = rollout.find(f"</{tag}>", i)
            if j < 0:
                break
            found.append((i, tag, rollout[i + len(pattern) : j]))
            start = j
    return [(tag, body) for _, tag, body in sorted(found)]


def reasoning_reward(
    completions: Sequence[str], teacher_chain: Sequence[str | None], judge: Any, **_: Any
) -> list[float]:
    """The judge's 0..1 score of each student chain against its teacher chain; 0 when the
    sample has no teacher chain."""
    return [
        judge.score(reasoning_chain(c), reasoning_chain(t)) if t else 0.0
        for c, t in zip(completions, teacher_chain, strict=True)
    ]


def total_reward(
    completions: Sequence[str],
    twin: Sequence[Twin],
    gt: Sequence[GroundTruth],
    *,
    gamma: float = 0.0,
    teacher_chain: Sequence[str | None] | None = None,
    judge: Any = None,
) -> tuple[list[float], dict[str, list[float]]]:
    """format + accuracy (+ gamma * reasoning when ``gamma`` > 0): totals and components."""
    parts = {
        "format": format_reward(completions),
        "accuracy": accuracy_reward(completions, twin, gt),
    }
    if gamma > 0:
        if judge is None or teacher_chain is None:
            raise ValueError("gamma > 0 needs a judge and the teacher chains")
        parts["reasoning"] = reasoning_reward(completions, teacher_chain, judge)
    weights = {"format": 1.0, "accuracy": 1.0, "reasoning": gamma}
    totals = [sum(weights[k] * v[i] for k, v in parts.items()) for i in range(len(completions))]
    return totals, parts
