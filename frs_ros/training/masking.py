"""Loss masks and token weights for rollouts (docs/DESIGN.md §5, docs/ARCHITECTURE.md).

A training sequence is ``prompt + rollout``. Only model-generated tokens carry a loss:
prompt tokens and every token that touches an engine-inserted span (``<results>``) get
label -100 and weight 0, so neither SFT nor GRPO ever pushes the model to *produce* tool
output. Tokens are located with the tokenizer's character offsets, which is exact for any
tokenizer and safe for tokens that straddle a boundary (they are masked).

DTwinSeger eq. (10) weights the cross-entropy per token, higher on "tokens associated with
reasoning decisions and final indices": here tokens inside ``<plan>`` (the tool-call JSON)
get ``decision_weight``, tokens inside ``<answer>`` (the ids) ``answer_weight`` (None = the
same as ``decision_weight``), the ``<reason>`` text 1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

IGNORE = -100
_PLAN = re.compile(r"<plan>.*?</plan>", re.DOTALL)
_ANSWER = re.compile(r"<answer>.*?</answer>", re.DOTALL)


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]  # IGNORE where no loss
    weights: list[float]  # 0 where no loss

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_loss_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def _overlaps(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    # a zero-width token (special tokens) still "touches" a span it sits inside
    return any(start < b and max(end, start + 1) > a for a, b in spans)


def encode_rollout(
    tokenizer: Any,
    prompt: str,
    rollout: str,
    engine_spans: Sequence[tuple[int, int]],
    *,
    decision_weight: float = 1.0,
    answer_weight: float | None = None,
) -> Encoded:
    """Token ids, labels and weights of ``prompt + rollout``.

    ``engine_spans`` are [start, end) character ranges within ``rollout``
    (``Transcript.engine_char_spans()``).
    """
    answer_weight = decision_weight if answer_weight is None else answer_weight
    if decision_weight <= 0 or answer_weight <= 0:
        raise ValueError(
            f"token weights must be > 0, got decision {decision_weight}, answer {answer_weight}"
        )
    text = prompt + rollout
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    n = len(prompt)
    engine = [(a + n, b + n) for a, b in engine_spans]
    plans = [(m.start() + n, m.end() + n) for m in _PLAN.finditer(rollout)]
    answers = [(m.start() + n, m.end() + n) for m in _ANSWER.finditer(rollout)]
    labels, weights = [], []
    for tok, (a, b) in zip(enc["input_ids"], enc["offset_mapping"], strict=True):
        if a < n or _overlaps(a, b, engine):
            labels.append(IGNORE)
            weights.append(0.0)
        else:
            labels.append(tok)
            if _overlaps(a, b, answers):
                weights.append(answer_weight)
            elif _overlaps(a, b, plans):
                weights.append(decision_weight)
            else:
                weights.append(1.0)
    return Encoded(list(enc["input_ids"]), labels, weights)


def collate(batch: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors: input_ids, attention_mask, labels, weights."""
    width = max(len(e) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    weights = torch.zeros((len(batch), width))
    attn = torch.zeros((len(batch), width), dtype=torch.long)
    for i, e in enumerate(batch):
        k = len(e)
        ids[i, :k] = torch.tensor(e.input_ids)
        labels[i, :k] = torch.tensor(e.labels)
        weights[i, :k] = torch.tensor(e.weights)
        attn[i, :k] = 1
    return {"input_ids": ids, "attention_mask": attn, "labels": labels, "weights": weights}


def token_logprobs(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """log p(label_t | tokens < t) for every position (0 where the label is IGNORE).

    Shifted so that position t holds the log-probability of token t given the prefix.
    """
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    logits = out.logits[:, :-1].float()
    labels = batch["labels"][:, 1:]
    safe = labels.clamp(min=0)
    lp = torch.log_softmax(logits, dim=-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    lp = lp * (labels != IGNORE)
    return torch.nn.functional.pad(lp, (1, 0))


def weighted_nll(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """DTwinSeger eq. (10), normalised by the total weight: sum_t w_t * -log p(y_t) / sum_t w_t.

    Normalising keeps the learning rate meaningful whatever the weights and lengths.
    """
    lp = token_logprobs(model, batch)
    w = batch["weights"]
    total = w.sum()
    if total <= 0:
        raise ValueError("the batch has no loss tokens (all masked)")
    return -(lp * w).sum() / total
