"""Rewards of docs/DESIGN.md §5 (FastReasonSeg §3), as plain functions in TRL's shape:
``f(completions, **columns) -> list[float]``, one value per completion; a stage lists the
ones it uses and their weights (``reward_funcs``, ``reward_weights`` of ``GRPOConfig``), and
every function's mean is logged per step.

- ``format``: +0.5 when the rollout follows the protocol of §4 exactly (tag pairs present,
  closed, ordered: reason, (plan results)*, answer, nothing but whitespace outside tags;
  ``protocol.check_format``) *and* its ``<answer>`` parses (``answer_ids``: the engine's
  bounded parser), else -0.5 — well-placed tags around an unparseable answer earn nothing.
- ``iou``: the graded accuracy, IoU(predicted union mask, ground truth) over the whole
  window (intersections and unions summed over frames). An empty answer on a positive has
  IoU 0, exactly what an answer naming a wrong object earns; on a negative (empty ground
  truth) the explicit empty answer has IoU 1 and any mask 0. No parseable ``<answer>``
  scores 0 even for an empty target: staying silent is not answering.
- ``success``: the paper's accuracy, 1 when that IoU > 0.5 (strictly), else 0. Logged every
  step as a metric whether or not it is a reward.
- ``reasoning``: the judge's 0..1 score of the student chain against the teacher chain
  (the paper's gamma term).

``weighted_rewards`` sums them with their weights and scales the total of a negative
sample (empty ground truth) by ``negative_weight``: with ``iou`` weighted 1, n =
``negative_weight`` and a share p of negatives, a policy blind to the query that always
abstains beats one that always answers only when its answers' mean IoU on positives is
below p·n / (1 − p) — 0.17 for n = 0.5 and p = 0.25 — while a policy that abstains exactly
on negatives beats both (``test/test_training_rewards.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from frs_ros.metrics import iou_counts
from frs_ros.reasoning import answer_masks, protocol
from frs_ros.twin import RLE, Twin
from frs_ros.twin import rle as rle_utils

FORMAT_OK, FORMAT_BAD = 0.5, -0.5
ACCURACY_IOU = 0.5
GAMMA = 0.5  # the paper's weight of the judge term in the student stage

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


def _check_columns(name: str, completions: Sequence[str], **columns: Sequence[Any]) -> None:
    lengths = {k: len(v) for k, v in columns.items()}
    if any(n != len(completions) for n in lengths.values()):
        raise ValueError(
            f"{name} needs one value per completion: {len(completions)} completions, "
            + ", ".join(f"{n} {k}" for k, n in lengths.items())
        )


def iou_reward(
    completions: Sequence[str], twin: Sequence[Twin], gt: Sequence[GroundTruth], **_: Any
) -> list[float]:
    """Graded accuracy: the IoU of each rollout's answer (``twin`` and ``gt`` are per
    completion, as TRL passes dataset columns)."""
    _check_columns("iou_reward", completions, twin=twin, gt=gt)
    return [rollout_iou(t, c, g) for c, t, g in zip(completions, twin, gt, strict=True)]


def accuracy_reward(
    completions: Sequence[str], twin: Sequence[Twin], gt: Sequence[GroundTruth], **_: Any
) -> list[float]:
    """The paper's binary accuracy: 1 when the answer's IoU > 0.5, else 0."""
    _check_columns("accuracy_reward", completions, twin=twin, gt=gt)
    return [
        accuracy_from_iou(rollout_iou(t, c, g))
        for c, t, g in zip(completions, twin, gt, strict=True)
    ]


success_reward = accuracy_reward


def is_negative(gt: GroundTruth) -> bool:
    """An empty-target sample: no frame of its ground truth has a pixel."""
    return all(rle_utils.area(m) == 0 for m in gt.values())


def reasoning_chain(rollout: str) -> str:
    """The model-written chain of a rollout: its reason, plan and answer blocks (the
    engine's ``<results>`` are data, not reasoning, and are left out). Each tag is scanned
    on its own, so a block the model wrote inside another one still counts."""
    found = [
        b
        for tag in (protocol.REASON, protocol.PLAN, protocol.ANSWER)
        for b in protocol.find_blocks(rollout, (tag,))
    ]
    return "\n".join(f"<{b.tag}>{b.body}</{b.tag}>" for b in sorted(found, key=lambda b: b.start))


def reasoning_reward(
    completions: Sequence[str],
    teacher_chain: Sequence[str | None] | None = None,
    judge: Any = None,
    **_: Any,
) -> list[float]:
    """The judge's 0..1 score of each student chain against its teacher chain; 0 when the
    sample has no teacher chain."""
    if judge is None or teacher_chain is None:
        raise ValueError("the reasoning reward needs a judge and the teacher chains")
    return [
        judge.score(reasoning_chain(c), reasoning_chain(t)) if t else 0.0
        for c, t in zip(completions, teacher_chain, strict=True)
    ]


RewardFunc = Callable[..., list[float]]
#: The reward functions a recipe can name in ``reward_funcs``.
REWARD_FUNCS: dict[str, RewardFunc] = {
    "format": format_reward,
    "iou": iou_reward,
    "success": success_reward,
    "reasoning": reasoning_reward,
}
#: Logged every step whether or not they are rewards (the paper's success is the metric).
ALWAYS_LOGGED: tuple[str, ...] = ("iou", "success")


def weighted_rewards(
    completions: Sequence[str],
    funcs: Sequence[str],
    weights: Sequence[float],
    *,
    twin: Sequence[Twin],
    gt: Sequence[GroundTruth],
    negative_weight: float = 1.0,
    **columns: Any,
) -> tuple[list[float], dict[str, list[float]]]:
    """Totals sum_k weights[k] * funcs[k](completion), times ``negative_weight`` on
    negatives; and each function's raw values (``ALWAYS_LOGGED`` ones included) to log.
    ``columns`` go to every function (``teacher_chain`` and ``judge`` for ``reasoning``)."""
    if len(funcs) != len(weights):
        raise ValueError(f"{len(funcs)} reward functions but {len(weights)} weights")
    unknown = [f for f in funcs if f not in REWARD_FUNCS]
    if unknown:
        raise ValueError(f"unknown reward functions {unknown}; known: {sorted(REWARD_FUNCS)}")
    _check_columns("weighted_rewards", completions, twin=twin, gt=gt)
    parts = {
        name: [float(v) for v in REWARD_FUNCS[name](completions, twin=twin, gt=gt, **columns)]
        for name in dict.fromkeys([*funcs, *ALWAYS_LOGGED])
    }
    totals = []
    for i, g in enumerate(gt):
        total = math.fsum(w * parts[name][i] for name, w in zip(funcs, weights, strict=True))
        totals.append(total * negative_weight if is_negative(g) else total)
    return totals, parts
