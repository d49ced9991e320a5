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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from frs_ros.reasoning import protocol
from frs_ros.reasoning.runtime.hf import cache_keyword

IGNORE = -100


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
    plans = [(b.start + n, b.end + n) for b in protocol.find_blocks(rollout, (protocol.PLAN,))]
    answers = [(b.start + n, b.end + n) for b in protocol.find_blocks(rollout, (protocol.ANSWER,))]
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


def frozen_prefix_length(batch: dict[str, torch.Tensor]) -> int:
    """How many leading positions ``token_logprobs(frozen_prompt=True)`` runs without
    gradient: those every row shares (the prompt, for a GRPO group) and that carry no loss,
    minus one, because the last position before the first loss token gives its logits."""
    ids, labels = batch["input_ids"], batch["labels"]
    shared = int((ids == ids[:1]).all(0).long().cumprod(0).sum())
    has_loss = (labels != IGNORE).any(0)
    first_loss = int(has_loss.long().argmax()) if bool(has_loss.any()) else ids.shape[1]
    return max(0, min(shared, first_loss - 1))


def token_logprobs(
    model: Any, batch: dict[str, torch.Tensor], *, frozen_prompt: bool = False
) -> torch.Tensor:
    """log p(label_t | tokens < t) for every position (0 where the label is IGNORE).

    Shifted so that position t holds the log-probability of token t given the prefix.

    ``frozen_prompt``: the shared loss-free prefix (``frozen_prefix_length``) runs once,
    without gradient, and its KV cache serves every row. The values are the same; the
    gradient leaves out how the weights change the prompt's keys and values, and in
    exchange a GRPO group's ~1,000-token prompt is run once instead of G times and never
    back-propagated — several times cheaper on a CPU (docs/training.md, learning benchmark).
    """
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    k = frozen_prefix_length(batch) if frozen_prompt else 0
    if k > 0:
        key = cache_keyword(model)
        with torch.no_grad():
            cache = getattr(model(input_ids=ids[:1, :k], use_cache=True), key)
        cache.batch_repeat_interleave(ids.shape[0])
        out = model(input_ids=ids[:, k:], attention_mask=mask, **{key: cache})
    else:
        out = model(input_ids=ids, attention_mask=mask)
    logits = out.logits[:, :-1].float()
    shifted = labels[:, k + 1 :]
    safe = shifted.clamp(min=0)
    lp = torch.log_softmax(logits, dim=-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    lp = lp * (shifted != IGNORE)
    return torch.nn.functional.pad(lp, (k + 1, 0))


def weighted_nll(
    model: Any, batch: dict[str, torch.Tensor], *, frozen_prompt: bool = False
) -> torch.Tensor:
    """DTwinSeger eq. (10), normalised by the total weight: sum_t w_t * -log p(y_t) / sum_t w_t.

    Normalising keeps the learning rate meaningful whatever the weights and lengths.
    ``frozen_prompt``: see ``token_logprobs``.
    """
    lp = token_logprobs(model, batch, frozen_prompt=frozen_prompt)
    w = batch["weights"]
    total = w.sum()
    if total <= 0:
        raise ValueError("the batch has no loss tokens (all masked)")
    return -(lp * w).sum() / total
