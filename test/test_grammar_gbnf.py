"""The server grammar (GBNF) that runtime/openai.py sends, parsed and run by a real GBNF
implementation (llguidance: its GBNF reader, then its matcher, over a byte tokenizer), and
compared with the regular expression the local runtimes decode with: both are written
from one protocol definition (frs_ros.reasoning.grammar.protocol_grammar)."""

from __future__ import annotations

import pytest

from frs_ros.benchmark import generate_split
from frs_ros.reasoning.grammar import ProtocolGrammar, protocol_gbnf
from frs_ros.reasoning.protocol import model_parts

llg = pytest.importorskip("llguidance", reason="the GBNF check needs llguidance (dev extra)")


class _ByteTokenizer:
    """One token per byte, plus an end-of-sequence token: the matcher then sees exactly
    the characters of the text, whatever a real tokenizer would do with them."""

    eos_token_id = 256
    bos_token_id = None
    tokens = (*(bytes([i]) for i in range(256)), b"<eos>")
    special_token_ids = (256,)

    def __call__(self, data: bytes) -> list[int]:
        return list(data)


TOKENIZER = llg.LLTokenizer(llg.TokenizerWrapper(_ByteTokenizer()))
GRAMMARS = {
    after: llg.grammar_from("gbnf", protocol_gbnf(after_results=after)) for after in (False, True)
}
REGEX = ProtocolGrammar()


def gbnf_verdict(text: str, after_results: bool) -> tuple[bool, bool]:
    """(``text`` is a prefix of the grammar, ``text`` is a whole turn of it)."""
    matcher = llg.LLMatcher(TOKENIZER, GRAMMARS[after_results], log_level=0)
    assert not matcher.is_error(), matcher.get_error()
    prefix = matcher.consume_tokens(TOKENIZER.tokenize_str(text))
    return prefix, prefix and matcher.is_accepting()


def regex_verdict(text: str, after_results: bool) -> tuple[bool, bool]:
    pattern = REGEX._turn if after_results else REGEX._first
    return REGEX.allows(pattern, text), pattern.fullmatch(text) is not None


@pytest.fixture(scope="module")
def turns() -> list[tuple[str, bool]]:
    """Every model-written turn of the oracle chains of a test split: (text, after results)."""
    out = []
    for sample in generate_split("test", 2, progress=False):
        segments = model_parts(sample.chain)
        out += [(segments[0], False)] + [(t, True) for t in segments[1:]]
    return out


def test_both_grammars_parse():
    for after in (False, True):
        assert llg.LLMatcher.validate_grammar(GRAMMARS[after]) == ""


def test_every_oracle_turn_is_a_whole_turn_of_the_gbnf(turns):
    assert len(turns) > 30
    for text, after in turns:
        assert gbnf_verdict(text, after) == (True, True), text


@pytest.mark.parametrize(
    "text",
    [
        '<reason>r</reason><plan>[{"tool": "fetch", "args": {}}]</plan>',  # unknown tool
        '<reason>r</reason><plan>[{"tool": "find", "args": {"id": 1}}]</plan>',  # wrong arg
        '<reason>r</reason><plan>[{"tool": "size_rank", "args": {"order": "big"}}]</plan>',
        '<reason>r</reason><answer>{"ids": ["mug"]}</answer>',  # ids are integers
        "<reason>r</reason>The answer is 3.",  # prose instead of a plan or an answer
        "<reason>r</reason>",  # ends before its plan or answer: what llama.cpp produced
        "Sure! <reason>r</reason>",
        "<reason>" + "x" * 301 + "</reason>",  # the reason is bounded
    ],
)
def test_off_protocol_first_turns_are_refused(text):
    assert gbnf_verdict(text, False)[1] is False


@pytest.mark.slow
def test_gbnf_and_regex_agree_on_every_prefix_and_mutation(turns):
    """Same verdict (prefix, whole) on each turn cut at every 5th character, and on the
    turns with one character changed: the two renderings are one grammar."""
    checked = 0
    for text, after in turns[:20]:
        variants = [text[:i] for i in range(0, len(text) + 1, 5)]
        variants += [text[:i] + "'" + text[i + 1 :] for i in range(0, len(text), 11)]
        variants += [text + " ", "\n" + text, "\n " + text, "\n \n" + text, text.replace(", ", ",")]
        variants += [text.replace(", ", ",  ", 1), text.replace('": ', '":\t')]
        for variant in variants:
            assert gbnf_verdict(variant, after) == regex_verdict(variant, after), variant
            checked += 1
    assert checked > 500


def test_the_turn_after_results_has_no_reason():
    assert gbnf_verdict('<answer>{"ids": [1]}</answer>', True) == (True, True)
    assert gbnf_verdict("<reason>", True)[0] is False
    assert gbnf_verdict('<answer>{"ids": [1]}</answer>', False)[0] is False
