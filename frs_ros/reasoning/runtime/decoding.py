"""The token loop shared by runtimes that own one KV cache (HF and onnxruntime-genai).

Both runtimes keep the cache of the last token sequence they fed the model. A new
``complete(text)`` tokenizes ``text``, keeps the cached positions of the longest common
token prefix, and prefills only the rest: rounds after ``<results>`` and second queries on
the same twin (and a new twin under the same system prompt) cost only their new tokens.
Stop strings, end-of-sequence, ``max_new_tokens``, deadlines and constrained decoding of
the protocol grammar (a compiled token matcher: the model's best allowed token, from one
bitmask per step) are handled here, once, so the backends behave identically. Where the
grammar allows exactly one next token (tags, JSON keys, the fixed parts of a tool call),
that token is taken without a decode step and run together with the next step's: the
same tokens as one step each, fewer forward passes. With ``draft_tokens`` > 0 each step
also runs a draft guessed by prompt lookup (:func:`lookup_draft`: the tokens that followed
the latest earlier occurrence of the sequence's last n-gram, cut where the grammar refuses
them) and keeps the longest prefix the model itself chooses: ids, labels and JSON copied
from the twin and from earlier plans cost one pass for several tokens, and the output is
the one decoding without drafts gives. A backend supplies ``_forward`` (run tokens on top
of the cache, return the logits of the last ``rows`` positions), ``_crop`` and
``_drop_cache``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from frs_ros.reasoning.grammar import ProtocolGrammar, TokenGrammar
from frs_ros.reasoning.runtime.base import (
    Completion,
    Sampling,
    cut_at_stop,
    deadline_passed,
    templated_prompt,
    validate_request,
)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def lookup_draft(ids: Sequence[int], max_tokens: int, max_ngram: int = 3) -> list[int]:
    """Prompt-lookup draft: the (up to ``max_tokens``) tokens that followed the latest
    earlier occurrence of ``ids``' last n-gram, longest n (``max_ngram`` down to 1) first;
    empty when none recurs. Written here rather than taken from transformers'
    ``PromptLookupCandidateGenerator``, which works on a generate() call's tensors and its
    own stopping rules, not on this loop's cache and grammar."""
    seq = np.asarray(ids)
    for n in range(min(max_ngram, len(seq) - 1), 0, -1):
        # starts s < len - n whose n tokens equal the last n (the last n-gram itself excluded)
        hits = np.ones(len(seq) - n, dtype=bool)
        for k in range(n):
            hits &= seq[k : len(seq) - n + k] == seq[len(seq) - n + k]
        found = np.flatnonzero(hits)
        if len(found):
            start = int(found[-1]) + n
            return [int(t) for t in seq[start : start + max_tokens]]
    return []


def build_warpers(sampling: Sampling) -> Any:
    """transformers logits warpers for ``sampling`` (empty when greedy)."""
    from transformers import (
        LogitsProcessorList,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    warpers = LogitsProcessorList()
    if sampling.greedy:
        return warpers
    warpers.append(TemperatureLogitsWarper(sampling.temperature))
    if sampling.top_k:
        warpers.append(TopKLogitsWarper(sampling.top_k))
    if sampling.top_p < 1:
        warpers.append(TopPLogitsWarper(sampling.top_p))
    return warpers


@dataclass
class DecodeTiming:
    """Where a runtime's time went, summed over its calls (seconds and tokens): prefill
    (tokens fed as prompt), decode (generated tokens fed back, ``decode_steps`` forward
    passes: fewer than tokens where the grammar forced tokens or drafts were kept; drafted
    tokens the model did not choose are run but not counted as decoded) and the grammar matcher
    (masks and their application; ``compile_s``: compiling it for the tokenizer, once per
    runtime). Subtract two :meth:`snapshot` s for one query."""

    prefill_tokens: int = 0
    prefill_s: float = 0.0
    decode_tokens: int = 0
    decode_steps: int = 0
    drafted: int = 0  # prompt-lookup tokens run for checking (draft_tokens > 0)
    draft_accepted: int = 0  # of those, kept (counted in decode_tokens too)
    decode_s: float = 0.0
    grammar_s: float = 0.0
    compile_s: float = 0.0
    calls: int = 0

    def snapshot(self) -> DecodeTiming:
        return DecodeTiming(**{f.name: getattr(self, f.name) for f in fields(self)})

    def __sub__(self, other: DecodeTiming) -> DecodeTiming:
        return DecodeTiming(
            **{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)}
        )


class CachedTokenRuntime:
    """Base of the KV-cache runtimes: prompt formatting, prefix reuse and the decode loop.

    Subclasses set up their model, then call ``super().__init__`` and implement
    :meth:`_forward`, :meth:`_crop` and :meth:`_drop_cache`. ``_forward`` must append the
    ids it ran to ``self._cached_ids`` only once the cache really holds them.
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        model_eos: int | Iterable[int] | None,
        thinking: bool = False,
        sampling: Sampling | None = None,
        reuse_cache: bool = True,
        constrained: bool = False,
        draft_tokens: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError(f"the tokenizer has no chat template; {type(self).__name__} needs one")
        self.tokenizer = tokenizer
        self.thinking = thinking
        self.sampling = sampling or Sampling()
        self.reuse_cache = reuse_cache
        if draft_tokens < 0:
            raise ValueError(f"draft_tokens must be >= 0, got {draft_tokens}")
        #: prompt-lookup tokens checked per decode step (0: none)
        self.draft_tokens = draft_tokens
        # a model config names one end-of-sequence id, a list or none; the tokenizer adds its own
        eos = [] if model_eos is None else [model_eos] if isinstance(model_eos, int) else model_eos
        self._eos_ids = frozenset({*eos, tokenizer.eos_token_id} - {None})
        self._warpers = build_warpers(self.sampling)
        self._generator: torch.Generator | None = None
        if self.sampling.seed is not None:
            self._generator = torch.Generator(device=device).manual_seed(self.sampling.seed)
        self._cached_ids: list[int] = []
        #: protocol grammar when decoding is constrained (frs_ros.reasoning.grammar)
        self.grammar: ProtocolGrammar | None = ProtocolGrammar() if constrained else None
        # (the grammar it was compiled from, the compiled matcher): rebuilt when replaced
        self._compiled: tuple[ProtocolGrammar, TokenGrammar] | None = None
        #: tokens fed to the model as prompt (not cached) by the last call; shows reuse
        self.last_prefill_tokens = 0
        #: cumulative time split (benchmarks/real_speed.py reads it)
        self.timing = DecodeTiming()

    # ------------------------------------------------------------------ LLMRuntime

    def format_prompt(self, system: str, user: str) -> str:
        return templated_prompt(self.tokenizer, system, user, thinking=self.thinking)

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` as the runtime feeds it (no extra special tokens)."""
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def reset_cache(self) -> None:
        """Forget the KV cache (required after the model's weights change)."""
        self._drop_cache()
        self._cached_ids = []

    @torch.inference_mode()
    def next_token_logits(self, text: str) -> torch.Tensor:
        """Logits (float32, on CPU) of the token after ``text``; uses and updates the cache."""
        return self._prefill(self._checked_ids(text))[-1].float().cpu()

    @torch.inference_mode()
    def complete(
        self,
        text: str,
        *,
        stop: Sequence[str],
        max_new_tokens: int,
        deadline: float | None = None,
    ) -> Completion:
        stops = validate_request(stop, max_new_tokens)
        if deadline_passed(deadline):
            return Completion("", 0, "deadline")
        timing = self.timing
        timing.calls += 1
        start = time.perf_counter()
        logits = self._prefill(self._checked_ids(text))[-1]
        timing.prefill_tokens += self.last_prefill_tokens
        timing.prefill_s += time.perf_counter() - start
        matcher = None
        if self.grammar is not None:
            matcher = self._token_grammar(logits.shape[-1])
            start = time.perf_counter()
            matcher.start(text)
            timing.grammar_s += time.perf_counter() - start
        new_ids: list[int] = []

        def take(token: int) -> Completion | None:
            """Append a chosen token; the completion when it ends generation."""
            if token in self._eos_ids:
                return Completion(self._decode(new_ids), len(new_ids) + 1, "stop")
            new_ids.append(token)
            out, hit = cut_at_stop(self._decode(new_ids), stops)
            if hit:
                return Completion(out, len(new_ids), "stop")
            if len(new_ids) >= max_new_tokens:
                return Completion(out, len(new_ids), "length")
            return None

        token = self._pick(logits, matcher)
        while True:
            if token is None:  # nothing fits (cannot happen below the grammar's bounds)
                return Completion(self._decode(new_ids), len(new_ids), "stop")
            if (done := take(token)) is not None:
                return done
            step = [token]
            while matcher is not None:  # tokens the grammar forces ride along with this step
                start = time.perf_counter()
                forced = matcher.forced()
                timing.grammar_s += time.perf_counter() - start
                if forced is None:
                    break
                if (done := take(forced)) is not None:
                    return done
                step.append(forced)
            draft = self._draft(step, matcher)
            if deadline_passed(deadline):
                return Completion(self._decode(new_ids), len(new_ids), "deadline")
            start = time.perf_counter()
            rows = self._forward(step + draft, rows=len(draft) + 1)
            timing.decode_s += time.perf_counter() - start
            timing.decode_steps += 1
            timing.decode_tokens += len(step)
            timing.drafted += len(draft)
            # rows[j]: the token after step + draft[:j]; keep draft tokens the model chooses
            token = self._pick(rows[0], matcher)
            kept = 0
            while kept < len(draft) and token == draft[kept]:
                kept += 1
                timing.decode_tokens += 1
                timing.draft_accepted += 1
                if (done := take(token)) is not None:
                    return done  # the cache holds the rest of the draft; _cached_ids says so
                token = self._pick(rows[kept], matcher)
            if kept < len(draft):  # the model chose otherwise: forget the rest
                keep = len(self._cached_ids) - (len(draft) - kept)
                self._crop(keep)
                self._cached_ids = self._cached_ids[:keep]

    # ------------------------------------------------------------------ backend hooks

    def _forward(self, ids: list[int], rows: int = 1) -> torch.Tensor:
        """Run ``ids`` on top of the cache; the logits of its last ``rows`` positions
        (``rows`` x vocabulary)."""
        raise NotImplementedError

    def _crop(self, keep: int) -> None:
        """Shrink the cache to its first ``keep`` positions (``0 < keep < cached``)."""
        raise NotImplementedError

    def _drop_cache(self) -> None:
        """Free the whole cache."""
        raise NotImplementedError

    # ------------------------------------------------------------------ internals

    def _checked_ids(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        ids = self.encode(text)
        if not ids:
            raise ValueError("cannot complete an empty text: format_prompt() gives the start")
        return ids

    def _prefill(self, ids: list[int]) -> torch.Tensor:
        """Bring the cache to ``ids`` reusing the common prefix; logits of the next token
        (1 x vocabulary)."""
        keep = common_prefix(self._cached_ids, ids) if self.reuse_cache else 0
        keep = min(keep, len(ids) - 1)  # at least one token must run to get logits
        if keep == 0:
            self.reset_cache()
        elif keep < len(self._cached_ids):
            self._crop(keep)
            self._cached_ids = self._cached_ids[:keep]
        self.last_prefill_tokens = len(ids) - keep
        return self._forward(ids[keep:])

    def _choose(self, logits: torch.Tensor) -> int:
        if self.sampling.greedy:
            return int(torch.argmax(logits))
        scores = self._warpers(None, logits.float()[None])
        probs = torch.softmax(scores, dim=-1)
        return int(torch.multinomial(probs, 1, generator=self._generator)[0, 0])

    def _token_grammar(self, vocab_size: int) -> TokenGrammar:
        """The grammar compiled for this tokenizer (once per grammar object)."""
        assert self.grammar is not None
        if self._compiled is None or self._compiled[0] is not self.grammar:
            start = time.perf_counter()
            self._compiled = (self.grammar, self.grammar.compile(self.tokenizer, vocab_size))
            self.timing.compile_s += time.perf_counter() - start
        return self._compiled[1]

    def _pick(self, logits: torch.Tensor, matcher: TokenGrammar | None) -> int | None:
        """The model's next token from ``logits``, among those the grammar allows when
        constrained (then consumed by it; None when it allows none)."""
        if matcher is None:
            return self._choose(logits)
        start = time.perf_counter()
        try:
            allowed = matcher.allowed()
            if not allowed.any():
                return None
            # numpy, not torch: on a busy machine torch's thread pool made this 15 ms a step
            masked = np.where(allowed, logits.float().cpu().numpy(), np.float32(-np.inf))
            if self.sampling.greedy:
                token = int(np.argmax(masked))
            else:
                token = self._choose(torch.from_numpy(masked))
            return token if matcher.consume(token) else None
        finally:
            self.timing.grammar_s += time.perf_counter() - start

    def _draft(self, step: list[int], matcher: TokenGrammar | None) -> list[int]:
        """Prompt-lookup tokens to check after ``step`` (not yet run), cut where the grammar
        refuses them; empty with ``draft_tokens`` 0."""
        if not self.draft_tokens:
            return []
        draft = lookup_draft(self._cached_ids + step, self.draft_tokens)
        if matcher is not None and draft:
            start = time.perf_counter()
            draft = draft[: matcher.valid_prefix(draft)]
            self.timing.grammar_s += time.perf_counter() - start
        return draft

    def _decode(self, ids: list[int]) -> str:
        text: str = self.tokenizer.decode(ids, skip_special_tokens=False)
        return text
