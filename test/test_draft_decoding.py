"""Prompt-lookup drafts in the shared decode loop (frs_ros/reasoning/runtime/decoding.py).

A draft is checked in the forward pass of the step it follows; the loop keeps the tokens
the model itself chooses and rewinds the cache past the rest. So the output must be the
one decoding without drafts gives, in fewer forward passes when drafts are kept, and the
cache must end up holding exactly the tokens it says (a later call reuses it).
"""

from __future__ import annotations

import warnings

import pytest
import torch

from frs_ros.reasoning.grammar import ProtocolGrammar
from frs_ros.reasoning.runtime.decoding import DecodeTiming, lookup_draft
from frs_ros.reasoning.runtime.factory import load_runtime
from frs_ros.reasoning.runtime.hf import HFRuntime


def tiny(**kwargs: object) -> HFRuntime:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return HFRuntime.tiny(**kwargs)  # type: ignore[arg-type]


def test_the_draft_follows_the_latest_longest_recurring_ngram() -> None:
    # the last 3-gram (1, 2, 3) recurs: what followed it, up to max_tokens
    assert lookup_draft([1, 2, 3, 4, 5, 9, 1, 2, 3], 2) == [4, 5]
    # the latest occurrence wins
    assert lookup_draft([7, 8, 1, 7, 8, 2, 7, 8], 1) == [2]
    # a longer match beats a later shorter one: (5, 6) recurs once, 6 alone later
    assert lookup_draft([5, 6, 1, 6, 2, 5, 6], 1) == [1]
    # nothing recurs, or too little to look up
    assert lookup_draft([1, 2, 3, 4], 4) == []
    assert lookup_draft([1], 4) == []
    # the draft stops at the end of the sequence
    assert lookup_draft([4, 4, 4], 5) == [4]


def rollout(draft_tokens: int, *, seed: int, constrained: bool) -> tuple[str, object, HFRuntime]:
    rt = tiny(seed=seed, constrained=constrained, draft_tokens=draft_tokens)
    if constrained:
        rt.grammar = ProtocolGrammar(max_reason_chars=40)
    prompt = rt.format_prompt("You segment objects. mug mug mug kettle", "the mug mug")
    done = rt.complete(prompt, stop=["</plan>", "</answer>"], max_new_tokens=120)
    return prompt, done, rt


# seeds whose random-weight rollouts repeat themselves, so drafts are kept (and rejected)
@pytest.mark.parametrize(("seed", "constrained"), [(2, False), (0, True)])
def test_drafts_keep_the_rollout_in_fewer_forward_passes(seed: int, constrained: bool) -> None:
    prompt, plain, plain_rt = rollout(0, seed=seed, constrained=constrained)
    _, drafted, rt = rollout(4, seed=seed, constrained=constrained)
    assert drafted == plain
    t: DecodeTiming = rt.timing
    assert plain_rt.timing.drafted == 0
    assert 0 < t.draft_accepted < t.drafted  # some drafts kept, some rejected and rewound
    assert t.decode_steps < plain_rt.timing.decode_steps
    # the cache holds exactly the tokens the runtime says: one more token on top of them
    # gives the logits a fresh runtime computes for the whole sequence
    ids = [*rt._cached_ids, rt.encode(" mug")[0]]
    assert torch.allclose(rt._prefill(ids), tiny(seed=seed)._prefill(ids), atol=1e-4)
    assert rt.last_prefill_tokens == 1  # reused, not prefilled again
    # and a second call, which rewinds that cache to the prompt, answers as without drafts
    again = [r.complete(prompt, stop=["</answer>"], max_new_tokens=20) for r in (rt, plain_rt)]
    assert again[0] == again[1]


def test_a_reasoner_config_sets_draft_tokens() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rt = load_runtime({"kind": "hf", "model": "tiny", "draft_tokens": 3})
    assert isinstance(rt, HFRuntime) and rt.draft_tokens == 3


def test_negative_draft_tokens_are_refused() -> None:
    with pytest.raises(ValueError, match="draft_tokens must be >= 0"):
        tiny(draft_tokens=-1)
