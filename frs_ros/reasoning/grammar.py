"""Constrained decoding of the rollout protocol (local runtimes; servers through GBNF).

Small pretrained models know the task but not the protocol: they end their turn after
``<results>``, answer in prose, or call tools that do not exist, and every such rollout is
``unparseable``. With constraints on, every generated token must keep the completion a
prefix of the protocol grammar:

- first turn: ``<reason>free text</reason>`` then a plan or an answer;
- after the engine's ``</results>``: a plan or an answer;
- plan: ``<plan>[{"tool": NAME, "args": {...}}, ...]</plan>`` with the registry's tool
  names and each tool's own arguments (in declared order, typed: ids are integers or
  ``"prev"``, choices are their listed values);
- answer: ``<answer>{"ids": [integers]}</answer>``;
- end-of-sequence is never allowed: the turn ends on ``</plan>`` or ``</answer>``.

The protocol is defined once (:func:`protocol_grammar`, a small expression tree built from
the tool registry) and written out two ways: as GBNF, which llguidance compiles into a
token-level matcher for the local runtimes (:class:`TokenGrammar`: one bitmask of the
allowed tokens per decode step, tens of microseconds) and which servers that constrain
decoding themselves take as it is (llama.cpp ``grammar``, vLLM
``structured_outputs.grammar``; runtime/openai.py); and as a regular expression (the
grammar is regular: every length is bounded), checked with the ``regex`` package's
partial matching, the reference that tests and training use to check what was generated
(:class:`ProtocolGrammar`).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import regex

from frs_ros.reasoning.tools import TOOLS, Param, ToolRegistry

# ------------------------------------------------------------------ the expression tree


@dataclass(frozen=True)
class Lit:
    """The exact text."""

    text: str


@dataclass(frozen=True)
class Chars:
    """One character of ``chars`` (any other character when ``negate``)."""

    chars: str
    negate: bool = False


@dataclass(frozen=True)
class Seq:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Alt:
    options: tuple[Node, ...]


@dataclass(frozen=True)
class Rep:
    """``item`` repeated ``low`` to ``high`` times."""

    item: Node
    low: int
    high: int


@dataclass(frozen=True)
class Rule:
    """A named part: GBNF writes it as a rule of its own, the regular expression inlines it."""

    name: str
    body: Node


Node = Lit | Chars | Seq | Alt | Rep | Rule


def _seq(*items: Node) -> Node:
    return items[0] if len(items) == 1 else Seq(items)


def _alt(*options: Node) -> Node:
    return options[0] if len(options) == 1 else Alt(options)


def _opt(item: Node) -> Rep:
    return Rep(item, 0, 1)


# ------------------------------------------------------------------ the protocol

WHITESPACE = " \t\n\r"
_WS = _opt(Chars(WHITESPACE))  # one optional whitespace character between JSON tokens
_DIGITS = Rep(Chars(string.digits), 1, 9)
_ID = Rule("id", _alt(_DIGITS, Lit('"prev"')))
_MAX_IDS = 32


def _list(item: Node, max_items: int = _MAX_IDS, allow_empty: bool = True) -> Node:
    """``[item, item, ...]``: at most ``max_items`` items, possibly none."""
    items = _seq(item, Rep(_seq(Lit(","), _WS, item), 0, max_items - 1))
    return _seq(Lit("["), _opt(items) if allow_empty else items, Lit("]"))


_NUMBER = _seq(_opt(Lit("-")), _DIGITS)
_KIND: dict[str, Node] = {
    "id": _ID,
    "ids": Rule("ids", _alt(_list(_ID), Lit('"prev"'))),
    "int": _NUMBER,
    "float": _seq(_NUMBER, _opt(_seq(Lit("."), Rep(Chars(string.digits), 1, 6)))),
}
# The default bounds (a reasoner config sets others: runtime.grammar)
MAX_STRING_CHARS = 40  # characters of a string argument
MAX_CALLS = 8  # tool calls per plan
MAX_REASON_CHARS = 300  # characters of the first <reason>
MAX_LABELS = MAX_CALLS  # labels in find's list: one list stands for a plan of finds


def _string(max_chars: int) -> Node:
    return Rule("str", _seq(Lit('"'), Rep(Chars('"\\<>\n', negate=True), 1, max_chars), Lit('"')))


def _value(p: Param, max_string_chars: int) -> Node:
    if p.kind == "choice":
        return _alt(*(Lit(f'"{c}"') for c in p.choices))
    if p.kind == "labels":
        label = _string(max_string_chars)
        return Rule("labels", _alt(label, _list(label, MAX_LABELS, allow_empty=False)))
    return _string(max_string_chars) if p.kind == "str" else _KIND[p.kind]


def _key(name: str, value: Node) -> Node:
    return _seq(Lit(f'"{name}":'), _WS, value)


def _fields(fields: list[Node]) -> Node:
    """JSON object members: ``a, b, c`` (one optional space after each comma)."""
    joined = [fields[0]]
    for f in fields[1:]:
        joined += [Lit(","), _WS, f]
    return _seq(*joined)


def _object(members: Node) -> Node:
    return _seq(Lit("{"), _WS, members, _WS, Lit("}"))


def _args(params: dict[str, Param], max_string_chars: int) -> Node:
    """``{...}`` with every required parameter and any optional ones, in declared order."""
    names = list(params)
    optional = [n for n in names if not params[n].required]
    variants: list[Node] = []
    for k in range(len(optional) + 1):
        for chosen in combinations(optional, k):
            present = [n for n in names if params[n].required or n in chosen]
            if present:
                variants.append(
                    _fields([_key(n, _value(params[n], max_string_chars)) for n in present])
                )
    if not variants:  # a tool without parameters
        return _seq(Lit("{"), _WS, _WS, Lit("}"))
    members = _alt(*variants)
    all_optional = not any(p.required for p in params.values())
    return _object(_opt(members) if all_optional else members)


def protocol_grammar(
    registry: ToolRegistry = TOOLS,
    *,
    max_calls: int = MAX_CALLS,
    max_reason_chars: int = MAX_REASON_CHARS,
    max_string_chars: int = MAX_STRING_CHARS,
) -> tuple[Node, Node]:
    """(first turn, turn after ``</results>``): the protocol as expression trees, with at
    most ``max_calls`` calls per plan, ``max_reason_chars`` characters of ``<reason>`` and
    ``max_string_chars`` per string argument."""
    calls = [
        # GBNF rule names are letters, digits and dashes
        Rule(
            "call-" + name.replace("_", "-"),
            _object(
                _fields(
                    [
                        _key("tool", Lit(f'"{name}"')),
                        _key("args", _args(registry[name].params, max_string_chars)),
                    ]
                )
            ),
        )
        for name in registry.names
    ]
    call = Rule("call", _alt(*calls))
    # no repetition node for one call: llguidance refuses a {0,0} range
    more = [Rep(_seq(Lit(","), _WS, call), 0, max_calls - 1)] if max_calls > 1 else []
    plan = Rule("plan", _seq(Lit("<plan>["), _WS, call, *more, _WS, Lit("]</plan>")))
    answer = Rule(
        "answer", _seq(Lit("<answer>"), _object(_key("ids", _list(_DIGITS))), Lit("</answer>"))
    )
    turn = _seq(Rep(Chars(WHITESPACE), 0, 2), _alt(plan, answer))
    reason = Rep(Chars("<", negate=True), 1, max_reason_chars)
    first = _seq(Rep(Chars(WHITESPACE), 0, 2), Lit("<reason>"), reason, Lit("</reason>"), turn)
    return first, turn


def resumes_turn(transcript: str) -> bool:
    """Whether the next turn continues after the engine's ``<results>`` (no ``<reason>``)."""
    return transcript.rstrip().endswith("</results>")


# ------------------------------------------------------------------ regular expression


def _re_char(c: str) -> str:
    return c if c.isalnum() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"


def to_regex(node: Node) -> str:
    """The tree as a ``regex`` pattern (atoms grouped so quantifiers apply to them whole)."""
    if isinstance(node, Lit):
        escaped: str = regex.escape(node.text)  # the `regex` package is untyped (Any)
        return escaped
    if isinstance(node, Chars):
        return "[" + ("^" if node.negate else "") + "".join(map(_re_char, node.chars)) + "]"
    if isinstance(node, Seq):
        return "".join(to_regex(i) for i in node.items)
    if isinstance(node, Alt):
        return "(?:" + "|".join(to_regex(o) for o in node.options) + ")"
    if isinstance(node, Rep):
        return f"(?:{to_regex(node.item)}){{{node.low},{node.high}}}"
    return to_regex(node.body)


def protocol_patterns(
    registry: ToolRegistry = TOOLS,
    *,
    max_calls: int = MAX_CALLS,
    max_reason_chars: int = MAX_REASON_CHARS,
    max_string_chars: int = MAX_STRING_CHARS,
) -> tuple[str, str]:
    """(first turn, turn after ``</results>``) as regular expressions."""
    first, turn = protocol_grammar(
        registry,
        max_calls=max_calls,
        max_reason_chars=max_reason_chars,
        max_string_chars=max_string_chars,
    )
    return to_regex(first), to_regex(turn)


# ------------------------------------------------------------------ GBNF

_GBNF_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _gbnf_char(c: str, in_class: bool) -> str:
    if c in _GBNF_ESCAPES:
        return _GBNF_ESCAPES[c]
    if in_class and c in "]^-[":
        return f"\\x{ord(c):02x}"
    return c if c.isprintable() else f"\\u{ord(c):04x}"


def _gbnf(node: Node, rules: dict[str, str]) -> str:
    if isinstance(node, Lit):
        return '"' + "".join(_gbnf_char(c, False) for c in node.text) + '"'
    if isinstance(node, Chars):
        body = "".join(_gbnf_char(c, True) for c in node.chars)
        return "[" + ("^" if node.negate else "") + body + "]"
    if isinstance(node, Seq):
        return " ".join(_gbnf(i, rules) for i in node.items)
    if isinstance(node, Alt):
        return "(" + " | ".join(_gbnf(o, rules) for o in node.options) + ")"
    if isinstance(node, Rep):
        item = _gbnf(node.item, rules)
        if isinstance(node.item, Seq):
            item = f"({item})"
        if (node.low, node.high) == (0, 1):
            return item + "?"
        return f"{item}{{{node.low},{node.high}}}"
    if node.name not in rules:
        rules[node.name] = ""  # reserve the name (and its place) before the body's rules
        rules[node.name] = _gbnf(node.body, rules)
    return node.name


def to_gbnf(root: Node) -> str:
    """The tree as a GBNF grammar (llama.cpp's format): ``root`` and one rule per :class:`Rule`."""
    rules: dict[str, str] = {}
    top = _gbnf(root, rules)
    return "\n".join([f"root ::= {top}", *(f"{name} ::= {body}" for name, body in rules.items())])


def protocol_gbnf(
    registry: ToolRegistry = TOOLS,
    *,
    after_results: bool = False,
    max_calls: int = MAX_CALLS,
    max_reason_chars: int = MAX_REASON_CHARS,
    max_string_chars: int = MAX_STRING_CHARS,
) -> str:
    """The GBNF of the first turn, or of a turn after ``</results>`` (``after_results``)."""
    first, turn = protocol_grammar(
        registry,
        max_calls=max_calls,
        max_reason_chars=max_reason_chars,
        max_string_chars=max_string_chars,
    )
    return to_gbnf(turn if after_results else first)


class ProtocolGrammar:
    """The protocol's two turns as regular expressions: checks whether a text is (a prefix
    of) a turn; :meth:`compile` gives the token-level matcher the runtimes decode with."""

    def __init__(
        self,
        registry: ToolRegistry = TOOLS,
        *,
        max_calls: int = MAX_CALLS,
        max_reason_chars: int = MAX_REASON_CHARS,
        max_string_chars: int = MAX_STRING_CHARS,
    ) -> None:
        self.registry, self.max_calls, self.max_reason_chars = (
            registry,
            max_calls,
            max_reason_chars,
        )
        self.max_string_chars = max_string_chars
        first, turn = protocol_patterns(
            registry,
            max_calls=max_calls,
            max_reason_chars=max_reason_chars,
            max_string_chars=max_string_chars,
        )
        self._first, self._turn = regex.compile(first), regex.compile(turn)

    def pattern_for(self, transcript: str) -> Any:
        """The grammar of the turn that continues ``transcript``."""
        return self._turn if resumes_turn(transcript) else self._first

    @staticmethod
    def allows(pattern: Any, text: str) -> bool:
        return pattern.fullmatch(text, partial=True) is not None

    def compile(self, tokenizer: Any, vocab_size: int) -> TokenGrammar:
        """This grammar over ``tokenizer``'s tokens (``vocab_size``: the logits' length)."""
        return TokenGrammar(self, tokenizer, vocab_size)


# ------------------------------------------------------------------ token-level matcher


def token_bytes(tokenizer: Any, vocab_size: int) -> tuple[list[bytes], list[int]]:
    """(the bytes of every token id below ``vocab_size``, the special token ids).

    Byte-level BPE tokens (Qwen, SmolLM2, the tiny tokenizer) map back to their exact bytes,
    so a token that holds part of a UTF-8 character is matched as those bytes; added tokens
    are their text (protocol tags may be whole tokens), special ones are never allowed;
    ids past the tokenizer (padded embedding rows) are special too.
    """
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    # transformers leaves bytes_to_unicode unannotated: dict[int, str] (byte -> printable char)
    byte_to_char: dict[int, str] = bytes_to_unicode()  # type: ignore[no-untyped-call]
    byte_of = {c: b for b, c in byte_to_char.items()}
    added = tokenizer.added_tokens_decoder
    special = set(tokenizer.all_special_ids)
    n = min(len(tokenizer), vocab_size)
    pieces = tokenizer.convert_ids_to_tokens(list(range(n)))
    out: list[bytes] = []
    for i, piece in enumerate(pieces):
        if i in added:
            out.append(added[i].content.encode())
            if added[i].special:
                special.add(i)
        elif piece is not None and all(c in byte_of for c in piece):
            out.append(bytes(byte_of[c] for c in piece))
        else:  # not byte-level: the decoded text
            out.append(tokenizer.decode([i]).encode())
    out += [f"<|unused_{i}|>".encode() for i in range(n, vocab_size)]
    special |= set(range(n, vocab_size))
    return out, sorted(t for t in special if t < vocab_size)


class _Vocabulary:
    """What ``llguidance.TokenizerWrapper`` reads from a tokenizer."""

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        self.tokens, self.special_token_ids = token_bytes(tokenizer, vocab_size)
        self.eos_token_id = tokenizer.eos_token_id
        self.bos_token_id = None
        self._tokenizer = tokenizer

    def __call__(self, text: str) -> list[int]:
        ids: list[int] = self._tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids


class TokenGrammar:
    """The protocol compiled for one tokenizer (llguidance): per decode step, the bitmask
    of the tokens that keep the turn a prefix of the grammar, at table-lookup cost.

    Same language as :class:`ProtocolGrammar`'s regular expressions (both are written from
    :func:`protocol_grammar`; test/test_grammar_tokens.py checks them token by token).
    End-of-sequence is allowed only once a whole turn has been generated, where the
    turn's stop string has already ended generation.
    """

    def __init__(self, grammar: ProtocolGrammar, tokenizer: Any, vocab_size: int) -> None:
        import llguidance as llg

        self.vocab_size = vocab_size
        self._tokenizer = llg.LLTokenizer(llg.TokenizerWrapper(_Vocabulary(tokenizer, vocab_size)))
        first, turn = protocol_grammar(
            grammar.registry,
            max_calls=grammar.max_calls,
            max_reason_chars=grammar.max_reason_chars,
            max_string_chars=grammar.max_string_chars,
        )
        self._pristine = {
            after: llg.LLMatcher(
                self._tokenizer, llg.grammar_from("gbnf", to_gbnf(root)), log_level=0
            )
            for after, root in ((False, first), (True, turn))
        }
        for m in self._pristine.values():
            if m.is_error():
                raise ValueError(f"the protocol grammar does not compile: {m.get_error()}")
        self._matchers = {after: m.deep_copy() for after, m in self._pristine.items()}
        self._matcher = self._matchers[False]
        self._mask: Any = None  # allowed() of the current state, until the state moves

    def start(self, transcript: str) -> None:
        """Begin the turn that continues ``transcript``."""
        after = resumes_turn(transcript)
        if self._matchers[after].is_error():  # an error state is for good: a fresh copy
            self._matchers[after] = self._pristine[after].deep_copy()
        self._matcher = self._matchers[after]
        self._matcher.reset()
        self._mask = None

    def allowed(self) -> Any:
        """A boolean numpy array over the vocabulary: the tokens allowed next."""
        import numpy as np

        if self._mask is None:
            if self._matcher.is_error():
                self._mask = np.zeros(self.vocab_size, dtype=bool)
            else:
                bits = np.frombuffer(self._matcher.compute_bitmask(), dtype=np.uint8)
                self._mask = np.unpackbits(bits, bitorder="little")[: self.vocab_size].astype(bool)
        return self._mask

    def forced(self) -> int | None:
        """The one token allowed next, consumed; None when there is a choice (or none)."""
        import numpy as np

        only = np.flatnonzero(self.allowed())
        if len(only) != 1:
            return None
        token = int(only[0])
        return token if self.consume(token) else None

    def valid_prefix(self, tokens: list[int]) -> int:
        """How many of ``tokens`` the grammar would take in a row from here (none consumed)."""
        return int(self._matcher.validate_tokens(tokens))

    def accepting(self) -> bool:
        """Whether what was consumed is a whole turn."""
        return bool(self._matcher.is_accepting())

    def consume(self, token: int) -> bool:
        """Advance past ``token``; False (and no move) when the grammar does not allow it."""
        if self._matcher.try_consume_tokens([token]) != 1:
            return False
        self._mask = None
        return True
