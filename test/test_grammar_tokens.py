"""The compiled token matcher (llguidance) that constrained decoding uses against the
regular expression it replaced: on the oracle turns and on mutations of them, both accept
and reject the same strings; at every step of an oracle turn the matcher allows only
tokens the regular expression allows, and some token whenever the expression allows one.
Where the grammar forces text (tags, keys: ``{"`` then ``tool":``), llguidance allows
the forced text's own tokens rather than every split of it (``tool``, not ``t``), so there
the allowed sets are equal only as languages."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from frs_ros.benchmark import generate_split
from frs_ros.reasoning.grammar import ProtocolGrammar, TokenGrammar, token_bytes
from frs_ros.reasoning.protocol import model_parts
from frs_ros.reasoning.runtime.tiny_tokenizer import load_tiny_tokenizer

pytest.importorskip("llguidance")

ROOT = Path(__file__).resolve().parents[1]
REAL_GGUF = ROOT / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
REGEX = ProtocolGrammar()
BEFORE = {False: "<|im_start|>assistant\n", True: "</results>"}  # transcript ends


@pytest.fixture(scope="module")
def tokenizer():
    return load_tiny_tokenizer()


@pytest.fixture(scope="module")
def matcher(tokenizer) -> TokenGrammar:
    return REGEX.compile(tokenizer, len(tokenizer) + 7)  # 7 padded rows, as models have


@pytest.fixture(scope="module")
def turns() -> list[tuple[str, bool]]:
    """Every model-written turn of the oracle chains of a test split: (text, after results)."""
    out = []
    for sample in generate_split("test", 2, progress=False):
        segments = model_parts(sample.chain)
        out += [(segments[0], False)] + [(t, True) for t in segments[1:]]
    return out


def regex_verdict(text: str, after: bool) -> tuple[bool, bool]:
    pattern = REGEX.pattern_for(BEFORE[after])
    return REGEX.allows(pattern, text), pattern.fullmatch(text) is not None


def matcher_verdict(m: TokenGrammar, ids: list[int], after: bool) -> tuple[bool, bool]:
    m.start(BEFORE[after])
    prefix = all(m.consume(t) for t in ids)
    return prefix, prefix and m.accepting()


def mutations(text: str, rng: random.Random, n: int) -> list[str]:
    """Single-character edits and truncations: most leave the grammar, some stay inside."""
    chars = '<>"{}[],: x9\n/'
    out = []
    for _ in range(n):
        i = rng.randrange(len(text) + 1)
        kind = rng.choice(("insert", "delete", "replace", "truncate"))
        if kind == "insert":
            out.append(text[:i] + rng.choice(chars) + text[i:])
        elif kind == "delete" and i < len(text):
            out.append(text[:i] + text[i + 1 :])
        elif kind == "replace" and i < len(text):
            out.append(text[:i] + rng.choice(chars) + text[i + 1 :])
        else:
            out.append(text[:i])
    return out


def test_every_oracle_turn_is_a_whole_turn_for_both(tokenizer, matcher, turns) -> None:
    assert len(turns) > 30
    for text, after in turns:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert regex_verdict(text, after) == (True, True), text
        assert matcher_verdict(matcher, ids, after) == (True, True), text


def test_mutations_are_accepted_and_rejected_alike(tokenizer, matcher, turns) -> None:
    rng = random.Random(0)
    verdicts = {(True, True): 0, (True, False): 0, (False, False): 0}
    for text, after in turns:
        for mutated in mutations(text, rng, 12):
            expected = regex_verdict(mutated, after)
            ids = tokenizer(mutated, add_special_tokens=False)["input_ids"]
            assert matcher_verdict(matcher, ids, after) == expected, (mutated, expected)
            verdicts[expected] += 1
    assert all(count > 20 for count in verdicts.values()), verdicts  # all three kinds seen


@pytest.mark.slow
def test_allowed_tokens_agree_at_every_step(tokenizer, matcher, turns) -> None:
    """The whole vocabulary, step by step along oracle turns (tokens whose bytes are not
    UTF-8 text on their own are left out: the regex only sees decoded text)."""
    raw, special = token_bytes(tokenizer, matcher.vocab_size)
    texts = [b.decode("utf-8", errors="strict") if _utf8(b) else None for b in raw]
    special_set = set(special)
    firsts = {piece[0] for piece in texts if piece}
    compared = np.array([piece is not None for piece in texts])
    picked = {}
    for text, after in turns:  # one turn per first tool (and the answers), to bound the time
        picked.setdefault((after, text[:40] if after else text.split("</reason>")[1][:28]), text)
    steps = equal = 0
    for (after, _), text in sorted(picked.items())[:10]:
        pattern = REGEX.pattern_for(BEFORE[after])
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        matcher.start(BEFORE[after])
        generated = ""
        for token in ids:
            allowed = matcher.allowed()
            nxt = {c for c in firsts if REGEX.allows(pattern, generated + c)}
            expected = np.zeros_like(allowed)
            for t, piece in enumerate(texts):
                if piece and t not in special_set and piece[0] in nxt:
                    expected[t] = REGEX.allows(pattern, generated + piece)
            assert not (allowed & ~expected & compared).any(), (generated, "regex rejects")
            assert allowed.any() and allowed[token], generated
            assert not allowed[sorted(special_set)].any()  # specials and padding: never
            equal += bool(np.array_equal(allowed & compared, expected))
            assert matcher.consume(token)
            generated += tokenizer.decode([token])
            steps += 1
    assert steps > 100 and equal > steps // 2, (steps, equal)


def _utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_token_bytes_round_trip_the_tokenizer(tokenizer) -> None:
    raw, special = token_bytes(tokenizer, len(tokenizer))
    text = '<reason>a "mug" é</reason><plan>[{"tool": "find"}]</plan>'
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert b"".join(raw[i] for i in ids).decode() == text
    assert (
        tokenizer.eos_token_id in special
        and tokenizer.convert_tokens_to_ids("<reason>") not in special
    )


def test_a_rejected_token_leaves_the_state_as_it_was(tokenizer, matcher) -> None:
    matcher.start(BEFORE[False])
    before = matcher.allowed()
    bad = tokenizer("Sure", add_special_tokens=False)["input_ids"][0]
    assert not before[bad] and not matcher.consume(bad)
    assert np.array_equal(matcher.allowed(), before)
    assert matcher.consume(tokenizer.convert_tokens_to_ids("<reason>"))


@pytest.mark.slow
@pytest.mark.skipif(not REAL_GGUF.is_file(), reason=f"{REAL_GGUF} is absent (frs models get)")
def test_real_qwen_tokenizer_matches_oracle_turns_and_mutations(turns) -> None:
    pytest.importorskip("gguf")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(REAL_GGUF.parent), gguf_file=REAL_GGUF.name)
    m = REGEX.compile(tok, 151936)
    rng = random.Random(1)
    for text, after in turns:
        for candidate in [text, *mutations(text, rng, 4)]:
            ids = tok(candidate, add_special_tokens=False)["input_ids"]
            assert matcher_verdict(m, ids, after) == regex_verdict(candidate, after), candidate
