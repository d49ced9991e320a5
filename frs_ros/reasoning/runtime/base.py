"""The LLM runtime contract (docs/ARCHITECTURE.md, "LLM runtime") and a scripted stand-in.

A runtime turns a transcript into its continuation. The rollout engine only ever calls
``format_prompt`` once per query and then ``complete`` once per round, passing the whole
transcript so far; runtimes that keep a KV cache reuse it for the shared prefix.

Deadlines are absolute ``time.monotonic()`` values (``time.monotonic() + timeout_s``), so a
whole rollout shares one budget across rounds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length", "deadline"]
FINISH_REASONS: tuple[str, ...] = ("stop", "length", "deadline")


@dataclass(frozen=True)
class Completion:
    """New text after the transcript.

    ``finish_reason``: ``"stop"`` when generation ended on a stop string (then ``text`` ends
    with it) or on the model's end-of-sequence; ``"length"`` when ``max_new_tokens`` were
    generated; ``"deadline"`` when the wall-clock deadline passed (``text`` holds what was
    generated until then, possibly nothing).
    """

    text: str
    n_tokens: int
    finish_reason: FinishReason

    def __post_init__(self) -> None:
        if self.finish_reason not in FINISH_REASONS:
            raise ValueError(
                f"finish_reason must be one of {FINISH_REASONS}, got {self.finish_reason!r}"
            )
        if self.n_tokens < 0:
            raise ValueError(f"n_tokens must be >= 0, got {self.n_tokens}")


@dataclass(frozen=True)
class Sampling:
    """Decoding settings. ``temperature == 0`` is greedy (the default, for evaluation);
    training rollouts sample with ``temperature > 0``, nucleus ``top_p`` and ``top_k``
    (0 = off); ``seed`` makes sampling reproducible."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@runtime_checkable
class LLMRuntime(Protocol):
    """What the rollout engine needs from a language model."""

    def format_prompt(self, system: str, user: str) -> str:
        """The chat-templated prompt, ending where the assistant's reply starts."""
        ...

    def complete(
        self,
        text: str,
        *,
        stop: Sequence[str],
        max_new_tokens: int,
        deadline: float | None = None,
    ) -> Completion:
        """Continue ``text``; return only the new text (with the stop string if hit)."""
        ...


def templated_prompt(tokenizer: Any, system: str, user: str, *, thinking: bool = False) -> str:
    """One system and one user message through ``tokenizer``'s chat template, ending where
    the assistant's reply starts: the one place a runtime, the SFT stage and a server client
    format a prompt, so the text trained on is the text served."""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    # the tokenizer is duck-typed (Any); with tokenize=False the template renders a str
    prompt: str = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=thinking
    )
    return prompt


def chatml_prompt(system: str, user: str, *, thinking: bool = False) -> str:
    """The Qwen3 chat format (ChatML) for one system and one user message.

    Same text as Qwen3's own template with ``add_generation_prompt=True``: with thinking
    off, the assistant turn starts with an empty ``<think>`` block, as Qwen3 does.
    """
    prompt = (
        f"<|im_start|>system\n{system}<|im_end|>\n"
        f"<|im_start|>user\n{user}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    return prompt if thinking else prompt + "<think>\n\n</think>\n\n"


def validate_request(stop: Sequence[str], max_new_tokens: int) -> tuple[str, ...]:
    """Check ``complete``'s arguments; return the stop strings as a tuple."""
    if isinstance(stop, str):
        raise TypeError(f"stop must be a sequence of strings, not a single string ({stop!r})")
    stops = tuple(stop)
    for s in stops:
        if not isinstance(s, str) or not s:
            raise ValueError(f"stop strings must be non-empty strings, got {s!r}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
        raise TypeError(f"max_new_tokens must be an int, got {type(max_new_tokens).__name__}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    return stops


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` right after the stop string that is *completed* first.

    "First completed" (smallest end index) is what a token-by-token generator sees: it
    stops as soon as any stop string has fully appeared. Returns (text, whether one hit).
    """
    best = -1
    for s in stop:
        i = text.find(s)
        if i >= 0 and (best < 0 or i + len(s) < best):
            best = i + len(s)
    return (text, False) if best < 0 else (text[:best], True)


_CLOSING_TAG = re.compile(r"</(\w+)>")


def unclosed_stop(text: str, stop: Sequence[str]) -> str | None:
    """The closing-tag stop string (``</plan>``, ``</answer>``) whose tag ``text`` left open.

    For servers that cut at a stop string without saying which one (llama.cpp, Ollama):
    a "stop" finish inside an open ``<plan>`` can only be the ``</plan>`` stop, since the
    model would not end its turn mid-block. When several tags are open, the innermost (the
    one opened last) is the one that was being closed. None when no tag is left open.
    """
    best, best_at = None, -1
    for s in stop:
        m = _CLOSING_TAG.fullmatch(s)
        if m is None:
            continue
        opened = text.rfind(f"<{m.group(1)}>")
        if opened > best_at and opened > text.rfind(s):
            best, best_at = s, opened
    return best


def deadline_passed(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


_PIECE = re.compile(r"\s+|\w+|[^\w\s]")


def simple_tokenize(text: str) -> list[str]:
    """Runs of whitespace, words and single punctuation characters.

    The pieces concatenate back to ``text`` exactly, so cutting after N pieces is a clean
    prefix of the text.
    """
    return _PIECE.findall(text)


@dataclass(frozen=True)
class ScriptedCall:
    """One recorded ``complete`` call of a :class:`ScriptedRuntime`."""

    text: str
    stop: tuple[str, ...]
    max_new_tokens: int
    deadline: float | None


class ScriptExhaustedError(RuntimeError):
    """``complete`` was called more often than there are scripted continuations."""


class ScriptedRuntime:
    """Plays back scripted continuations through the :class:`LLMRuntime` interface.

    Each ``complete`` call consumes the next scripted string and treats it as what the
    model would have generated, applying the same limits a real runtime does:

    1. deadline already passed -> ``Completion("", 0, "deadline")`` (the entry is consumed);
    2. the entry is cut right after the first completed stop string (see :func:`cut_at_stop`);
    3. the result is split into tokens with ``tokenize`` (default :func:`simple_tokenize`);
       more than ``max_new_tokens`` tokens -> the first ``max_new_tokens`` tokens,
       ``"length"`` (even when a stop string came later, as a real model would never reach it);
    4. otherwise ``"stop"``: either on the stop string, or at the entry's end, which stands
       for the model's end-of-sequence.

    ``n_tokens`` is the number of tokens of the returned text. Every call is recorded in
    ``calls`` so tests can check what the engine sent. A ``tokenize`` callable must return
    pieces that concatenate to its input.
    """

    def __init__(
        self,
        outputs: Iterable[str],
        *,
        tokenize: Callable[[str], Sequence[str]] = simple_tokenize,
        thinking: bool = False,
    ) -> None:
        self._outputs = list(outputs)
        for i, out in enumerate(self._outputs):
            if not isinstance(out, str):
                raise TypeError(f"scripted output {i} must be a str, got {type(out).__name__}")
        self._tokenize = tokenize
        self.thinking = thinking
        self.calls: list[ScriptedCall] = []

    @property
    def remaining(self) -> int:
        """Scripted continuations not yet played."""
        return len(self._outputs)

    def push(self, *outputs: str) -> None:
        """Append more scripted continuations."""
        self._outputs.extend(outputs)

    def format_prompt(self, system: str, user: str) -> str:
        return chatml_prompt(system, user, thinking=self.thinking)

    def count_tokens(self, text: str) -> int:
        return len(self._pieces(text))

    def _pieces(self, text: str) -> list[str]:
        pieces = list(self._tokenize(text))
        if "".join(pieces) != text:
            raise ValueError("the tokenize callable must return pieces that join to its input")
        return pieces

    def complete(
        self,
        text: str,
        *,
        stop: Sequence[str],
        max_new_tokens: int,
        deadline: float | None = None,
    ) -> Completion:
        stops = validate_request(stop, max_new_tokens)
        self.calls.append(ScriptedCall(text, stops, max_new_tokens, deadline))
        if not self._outputs:
            raise ScriptExhaustedError(
                f"ScriptedRuntime has no continuation left for call {len(self.calls)}"
            )
        scripted = self._outputs.pop(0)
        if deadline_passed(deadline):
            return Completion("", 0, "deadline")
        out, _ = cut_at_stop(scripted, stops)
        pieces = self._pieces(out)
        if len(pieces) > max_new_tokens:
            return Completion("".join(pieces[:max_new_tokens]), max_new_tokens, "length")
        return Completion(out, len(pieces), "stop")
