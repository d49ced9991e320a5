"""The rollout engine (docs/DESIGN.md §4): generate, stop at ``</plan>``, run the tools, append
``<results>``, resume; stop at ``</answer>``. Rounds, tokens and wall time are bounded and
hitting a bound is a reported outcome, never an exception.

The transcript is kept as spans marked ``model`` (generated) or ``engine`` (inserted), so
training can mask the inserted tokens out of every loss (docs/DESIGN.md §5).
"""

from __future__ import annotations

import math
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from frs_ros.reasoning import protocol
from frs_ros.reasoning.few_shot import check_few_shot, few_shot_examples
from frs_ros.reasoning.prompt import (
    PreviousTurn,
    check_prompt_style,
    system_prompt,
    user_prompt,
)
from frs_ros.reasoning.runtime.base import LLMRuntime
from frs_ros.reasoning.tools import TOOLS, ToolContext, ToolRegistry
from frs_ros.twin import Twin

Outcome = Literal["answered", "empty", "unparseable", "max_rounds", "max_tokens", "deadline"]
Source = Literal["model", "engine"]
MAX_QUERY_CHARS = 2000
# Upper bounds of the reasoner options: far above any sensible value, so a typo or a
# hostile query (1e308 s, 2**40 rounds) is refused instead of disabling the bound.
MAX_ROUNDS = 64
MAX_NEW_TOKENS = 32768
MAX_TIMEOUT_S = 3600.0


@dataclass
class Transcript:
    """The prompt plus the rollout, as (text, source) spans."""

    prompt: str
    spans: list[tuple[str, Source]] = field(default_factory=list)

    def add(self, text: str, source: Source) -> None:
        if text:
            self.spans.append((text, source))

    @property
    def rollout(self) -> str:
        """Everything after the prompt: what the format and accuracy rewards read."""
        return "".join(t for t, _ in self.spans)

    @property
    def text(self) -> str:
        return self.prompt + self.rollout

    def engine_char_spans(self) -> list[tuple[int, int]]:
        """[start, end) character ranges of engine-inserted text within ``rollout``."""
        out, pos = [], 0
        for text, source in self.spans:
            if source == "engine":
                out.append((pos, pos + len(text)))
            pos += len(text)
        return out


@dataclass
class ReasonerConfig:
    max_rounds: int = 4  # <plan> rounds executed; one more is the cut-off
    max_new_tokens: int = 512  # over the whole rollout
    timeout_s: float = 60.0  # wall time of one query (a first query on a CPU is slow)
    max_calls_per_plan: int = 8
    max_results_chars: int = 4000  # a huge <results> would blow the context
    max_query_chars: int = MAX_QUERY_CHARS  # longer queries are refused
    prompt: str = "full"  # system prompt style (prompt.PROMPT_STYLES): full | brief
    # solved train-split examples in the system prompt (reasoning/few_shot.py); 0 = none
    few_shot: int = 0

    def __post_init__(self) -> None:
        # One validator for every interface (CLI flags, YAML, ROS parameters and queries,
        # Python API): finite numbers in range, or a ValueError naming the option.
        for name, low, high in (
            ("max_rounds", 0, MAX_ROUNDS),
            ("max_new_tokens", 1, MAX_NEW_TOKENS),
            ("max_calls_per_plan", 1, 1000),
            ("max_results_chars", 1, 10**7),
            ("max_query_chars", 1, 10**6),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
        timeout = self.timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise ValueError(f"timeout_s must be a number of seconds, got {timeout!r}")
        if not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT_S):
            raise ValueError(f"timeout_s must be in (0, {MAX_TIMEOUT_S:g}] s, got {timeout!r}")
        check_prompt_style(self.prompt)
        check_few_shot(self.few_shot)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every setting with its default: the ROS parameters and the CLI flags are
        declared from these, so the interfaces cannot drift apart."""
        return asdict(cls())

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "reasoner") -> ReasonerConfig:
        """The one loader (a YAML section, ROS parameters, CLI flags): unknown keys are an
        error naming them, values go through the one validator."""
        known = [f.name for f in fields(cls)]
        if unknown := sorted(set(values) - set(known)):
            raise ValueError(f"unknown {where} settings {unknown} (known: {known})")
        return cls(**values)

    def with_query_options(
        self,
        *,
        max_rounds: float | None = None,
        max_new_tokens: float | None = None,
        timeout_s: float | None = None,
    ) -> ReasonerConfig:
        """This config with a query's own bounds; ``None`` or 0 keeps this config's value
        (the ROS message's "unset"). Invalid values raise ValueError naming the option."""
        rounds = _query_count("max_rounds", max_rounds)
        tokens = _query_count("max_new_tokens", max_new_tokens)
        return replace(
            self,
            max_rounds=self.max_rounds if rounds is None else rounds,
            max_new_tokens=self.max_new_tokens if tokens is None else tokens,
            timeout_s=self.timeout_s if timeout_s is None or timeout_s == 0 else timeout_s,
        )


def _query_count(name: str, value: float | None) -> int | None:
    """A query's integer bound: ``None`` when unset (``None`` or 0); a whole float is that
    integer, any other float a ValueError naming the option. Range checks are the config's."""
    if value is None or value == 0:
        return None
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{name} must be an integer, got {value!r}")
        return int(value)
    return value


@dataclass
class ReasoningResult:
    """One answered query. ``ids`` are the answered ids present in the twin; ids the model
    named that are not in the twin go to ``unknown_ids``. ``empty``: the mask is empty."""

    query: str
    ids: list[int]
    unknown_ids: list[int]
    outcome: Outcome
    reasoning: str
    transcript: Transcript
    rounds: int
    n_tokens: int
    timings: dict[str, float]
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.ids

    def as_previous(self) -> PreviousTurn:
        return PreviousTurn(self.query, list(self.ids))


# How a query before the first twin is refused; `frs ros ask` waits on it: one string.
NO_TWIN_YET = "no frame received yet"


def validate_query(query: str, max_chars: int = MAX_QUERY_CHARS) -> str:
    """Strip a query and reject empty, oversized, non-UTF-8 (lone surrogates, e.g. argv bytes
    decoded with surrogateescape) and control-character ones with a clear message."""
    if not isinstance(query, str):
        raise TypeError(f"query must be a string, got {type(query).__name__}")
    query = query.strip()
    if not query:
        raise ValueError("query is empty")
    if len(query) > max_chars:
        raise ValueError(f"query is {len(query)} characters; at most {max_chars} are accepted")
    for pos, ch in enumerate(query):
        category = unicodedata.category(ch)
        if category == "Cs":  # the tokenizer cannot encode a lone surrogate
            raise ValueError(f"query is not valid UTF-8 (undecodable byte at character {pos})")
        if category == "Cc" and ch not in "\t\n":
            raise ValueError(f"query holds a control character {ch!r} at character {pos}")
    return query


def clean_model_text(text: str) -> str:
    """Model output with lone surrogates (a server can send ``"\\ud800"``) replaced by "?",
    so transcripts can be tokenized, written as UTF-8 and printed."""
    return text.encode("utf-8", "replace").decode("utf-8")


def forged_results(transcript: Transcript) -> bool:
    """True when the model wrote a ``<results>`` tag itself: only the engine may, so such a
    rollout's answer may rest on made-up tool output."""
    return any(
        source == "model" and ("<results>" in text or "</results>" in text)
        for text, source in transcript.spans
    )


class Reasoner:
    """Answers queries about a twin with an LLM runtime and the tool registry."""

    def __init__(
        self,
        runtime: LLMRuntime,
        config: ReasonerConfig | None = None,
        registry: ToolRegistry = TOOLS,
    ) -> None:
        self.runtime = runtime
        self.config = config or ReasonerConfig()
        self.registry = registry
        self._system = system_prompt(
            registry, self.config.prompt, few_shot_examples(self.config.few_shot)
        )

    def prompt(self, twin: Twin, query: str, previous: ReasoningResult | None = None) -> str:
        prev = previous.as_previous() if previous is not None else None
        return self.runtime.format_prompt(self._system, user_prompt(twin, query, prev))

    def answer(
        self,
        twin: Twin,
        query: str,
        previous: ReasoningResult | None = None,
        config: ReasonerConfig | None = None,
    ) -> ReasoningResult:
        """Answer ``query`` on ``twin``; ``previous`` makes it a follow-up. ``config``
        replaces this reasoner's bounds for this query (``with_query_options``); the
        system prompt is fixed when the reasoner is built (it is the cached prefix)."""
        cfg = config or self.config
        for name in ("prompt", "few_shot"):
            if getattr(cfg, name) != getattr(self.config, name):
                raise ValueError(f"{name} is fixed when the reasoner is built; use a new one")
        query = validate_query(query, cfg.max_query_chars)
        if not twin.frames:
            raise ValueError("the twin has no frames: nothing to reason about yet")
        t0 = time.monotonic()
        deadline = t0 + cfg.timeout_s
        transcript = Transcript(self.prompt(twin, query, previous))
        ctx = ToolContext(twin, list(previous.ids) if previous is not None else [])
        timings = {"prompt_s": time.monotonic() - t0, "generate_s": 0.0, "tools_s": 0.0}
        tool_calls: list[dict[str, Any]] = []
        n_tokens = rounds = 0
        outcome: Outcome | None = None

        while outcome is None:
            t = time.monotonic()
            completion = self.runtime.complete(
                transcript.text,
                stop=[protocol.PLAN_CLOSE, protocol.ANSWER_CLOSE],
                max_new_tokens=cfg.max_new_tokens - n_tokens,
                deadline=deadline,
            )
            timings["generate_s"] += time.monotonic() - t
            text = clean_model_text(completion.text)
            transcript.add(text, "model")
            n_tokens += max(int(completion.n_tokens), 0)  # a server's count is not trusted

            if text.endswith(protocol.ANSWER_CLOSE):
                break  # parsed below
            if completion.finish_reason == "deadline":
                outcome = "deadline"
            elif text.endswith(protocol.PLAN_CLOSE):
                if rounds >= cfg.max_rounds:
                    outcome = "max_rounds"
                else:
                    rounds += 1
                    t = time.monotonic()
                    entries = self._run_plan(ctx, text, cfg)
                    timings["tools_s"] += time.monotonic() - t
                    tool_calls.extend(entries)
                    transcript.add(self._results_block(entries, cfg), "engine")
                    if n_tokens >= cfg.max_new_tokens:
                        outcome = "max_tokens"
                    elif time.monotonic() >= deadline:
                        outcome = "deadline"
            elif completion.finish_reason == "length" or n_tokens >= cfg.max_new_tokens:
                outcome = "max_tokens"
            else:  # the model ended without an answer
                outcome = "unparseable"

        ids: list[int] = []
        unknown: list[int] = []
        if outcome is None:
            parsed = protocol.parse_answer(protocol.last_block(transcript.rollout, "answer") or "")
            if parsed is None or forged_results(transcript):
                outcome = "unparseable"
            else:
                known = set(twin.ids)
                ids = [i for i in parsed if i in known]
                unknown = [i for i in parsed if i not in known]
                # "empty" is the model's explicit empty target; naming only unknown ids
                # is an answer whose mask is empty (reported in unknown_ids)
                outcome = "answered" if parsed else "empty"
        timings["total_s"] = time.monotonic() - t0
        reasoning = protocol.blocks(transcript.rollout, protocol.REASON)
        return ReasoningResult(
            query=query,
            ids=ids,
            unknown_ids=unknown,
            outcome=outcome,
            reasoning=reasoning[0].strip() if reasoning else "",
            transcript=transcript,
            rounds=rounds,
            n_tokens=n_tokens,
            timings=timings,
            tool_calls=tool_calls,
        )

    def _run_plan(self, ctx: ToolContext, text: str, cfg: ReasonerConfig) -> list[dict[str, Any]]:
        body = protocol.last_block(text, protocol.PLAN)
        if body is None:
            return [{"error": "</plan> without a matching <plan>"}]
        calls, error = protocol.parse_plan(body, cfg.max_calls_per_plan)
        if error is not None:
            return [{"error": error}]
        return [self.registry.call(ctx, c.tool, c.args) for c in calls]

    def _results_block(self, entries: list[dict[str, Any]], cfg: ReasonerConfig) -> str:
        block = protocol.format_results(entries)
        if len(block) > cfg.max_results_chars:
            block = protocol.format_results(
                [{"error": f"results too long ({len(block)} chars); ask for fewer objects"}]
            )
        return block
