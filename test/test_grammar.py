"""Constrained decoding of the rollout protocol (frs_ros.reasoning.grammar)."""

import json
import warnings

import numpy as np
import pytest

from frs_ros.reasoning import Reasoner, ReasonerConfig
from frs_ros.reasoning.grammar import ProtocolGrammar
from frs_ros.reasoning.protocol import check_format
from frs_ros.reasoning.runtime import load_runtime
from frs_ros.reasoning.runtime.hf import HFRuntime
from frs_ros.twin import FrameTwin, Twin, TwinObject

G = ProtocolGrammar(max_reason_chars=40)
FIRST = G.pattern_for("<|im_start|>assistant\n")
TURN = G.pattern_for('...<results>{"results": []}</results>')


@pytest.mark.parametrize(
    "text",
    [
        '<reason>mugs hold tea</reason><plan>[{"tool": "find", "args": {"label": "mug"}}]</plan>',
        '<reason>r</reason>\n<answer>{"ids": [3, 12]}</answer>',
        '<reason>r</reason><answer>{"ids":[]}</answer>',
        '<reason>r</reason><plan>[{"tool":"nearest","args":{"to":"camera","label":"cup"}},'
        ' {"tool": "size_rank", "args": {"ids": [1, "prev"], "order": "asc"}}]</plan>',
        '<reason>r</reason><plan>[{"tool": "appeared", "args": {}}]</plan>',
        '<reason>r</reason><plan>[{"tool": "find", "args": {"label": ["mug", "cup"]}}]</plan>',
    ],
)
def test_protocol_turns_are_in_the_grammar(text):
    assert FIRST.fullmatch(text) is not None


@pytest.mark.parametrize(
    "prefix",
    [
        '<reason>r</reason><plan>[{"tool": "fetch',  # unknown tool
        '<reason>r</reason><plan>[{"tool": "find", "args": {"id": 1}}]',  # wrong argument
        '<reason>r</reason><plan>[{"tool": "size", "args": {"id": "mug"',  # id must be a number
        '<reason>r</reason><plan>[{"tool": "find", "args": {"label": []',  # no empty label list
        '<reason>r</reason><plan>[{"tool": "count", "args": {"label": [',  # count takes one label
        '<reason>r</reason><plan>[{"tool": "find", "args": {"label": ['  # at most 8 labels
        + ", ".join(['"a"'] * 9),
        '<reason>r</reason><plan>[{"tool": "size_rank", "args": {"order": "big"',  # bad choice
        '<reason>r</reason><answer>{"ids": ["mug"',  # ids are integers
        "<reason>r</reason>The answer is",  # prose after the reason
        "Sure! <reason>",  # anything before the reason
        "<reason>" + "x" * 41,  # the reason is bounded
    ],
)
def test_off_protocol_prefixes_are_rejected(prefix):
    assert not G.allows(FIRST, prefix)


def test_turn_after_results_has_no_reason():
    assert G.allows(TURN, '<answer>{"ids": [1]}</answer>')
    assert not G.allows(TURN, "<reason>")


def test_decoding_takes_the_models_best_allowed_token():
    """Greedy constrained decoding: the highest logit among the tokens the compiled matcher
    allows; nothing allowed ends the turn (None)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rt = HFRuntime.tiny(constrained=True)
    tok = rt.tokenizer
    vocab = rt.model.config.vocab_size
    matcher = rt._token_grammar(vocab)
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<reason>", "<answer>")}
    sure = tok("Sure", add_special_tokens=False)["input_ids"][0]
    logits = torch.zeros(vocab)
    logits[sure], logits[ids["<answer>"]], logits[ids["<reason>"]] = 9.0, 5.0, 1.0
    matcher.start("<|im_start|>assistant\n")
    assert rt._pick(logits, matcher) == ids["<reason>"]  # "Sure", <answer>: not yet
    matcher.start("<results>{}</results>")  # after results: no reason, a plan or an answer
    assert rt._pick(logits, matcher) == ids["<answer>"]
    assert rt._pick(logits, matcher) != ids["<answer>"]  # consumed: "{" comes next


def _twin() -> Twin:
    h, w = 40, 60
    objs = []
    for i, (label, x0) in enumerate([("mug", 5), ("plate", 30)], start=1):
        mask = np.zeros((h, w), bool)
        mask[10:30, x0 : x0 + 15] = True
        objs.append(TwinObject.from_mask(i, label, 0.9, mask))
    return Twin([FrameTwin(index=0, stamp=0.0, width=w, height=h, objects=objs)])


@pytest.mark.slow
@pytest.mark.parametrize("sampling", [None, {"temperature": 1.0, "top_p": 0.9, "seed": 1}])
def test_random_weights_constrained_always_follow_the_protocol(sampling):
    """A random-weight model never writes the protocol by itself; constrained (greedy or
    sampled), every turn it writes is inside the grammar and none ends unparseable."""
    cfg = {"kind": "hf", "model": "tiny", "constrained": True, "sampling": sampling}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        free = HFRuntime.tiny()
        runtime = load_runtime(cfg)
    runtime.grammar = G
    reasoner = Reasoner(runtime, ReasonerConfig(max_new_tokens=160, max_rounds=2))
    result = reasoner.answer(_twin(), "the mug")
    assert result.outcome in ("answered", "empty", "max_rounds", "max_tokens")
    spans = result.transcript.spans
    model_turns = [(i, t) for i, (t, src) in enumerate(spans) if src == "model"]
    for i, text in model_turns:
        before = "".join(t for t, _ in spans[:i])
        pattern = G.pattern_for(before)
        assert G.allows(pattern, text), text
    if result.outcome in ("answered", "empty"):
        assert check_format(result.transcript.rollout)
        json.loads(result.transcript.rollout.rsplit("<answer>", 1)[1][: -len("</answer>")])
    unconstrained = Reasoner(free, ReasonerConfig(max_new_tokens=40)).answer(_twin(), "the mug")
    assert not G.allows(FIRST, unconstrained.transcript.rollout)


def test_forced_tokens_ride_along_without_changing_the_rollout(monkeypatch):
    """Where the grammar allows one token only, it is taken without a decode step of its
    own: the same tokens, in fewer forward passes, than choosing each one from logits."""
    from frs_ros.reasoning.grammar import TokenGrammar

    def rollout() -> tuple[object, object]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rt = HFRuntime.tiny(constrained=True)
        rt.grammar = ProtocolGrammar(max_reason_chars=40)
        prompt = rt.format_prompt("You segment objects.", "the mug")
        done = rt.complete(prompt, stop=["</plan>", "</answer>"], max_new_tokens=160)
        return done, rt.timing

    fast, fast_timing = rollout()
    monkeypatch.setattr(TokenGrammar, "forced", lambda self: None)
    slow, slow_timing = rollout()
    assert fast == slow
    assert "</reason>" in fast.text  # the turn went past the reason into the forced parts
    assert slow_timing.decode_steps == slow_timing.decode_tokens
    assert fast_timing.decode_steps < fast_timing.decode_tokens
    assert fast_timing.decode_steps < slow_timing.decode_steps
