"""Runtime over an OpenAI-compatible HTTP server (vLLM, SGLang, Ollama, llama.cpp server).

It uses ``POST {url}/completions`` with the raw transcript as ``prompt`` (not the chat
endpoint), so a rollout continues the assistant turn across rounds exactly as the local
runtime does. Only the standard library is used (``requests`` is not installed here).

Stop strings: servers return the text *without* the stop string. The contract wants it
included, so it is put back when the server says which one matched (vLLM ``stop_reason``,
SGLang ``matched_stop``; ``null`` there means end-of-sequence). Servers that do not say
(llama.cpp / llama-cpp-python, Ollama: ``finish_reason`` "stop" and no such field) are
read from the protocol state: a "stop" finish inside an unclosed ``<plan>`` or
``<answer>`` was that block's closing stop string (an end-of-sequence there would leave
an unparseable rollout anyway). Servers that ignore ``stop`` are cut locally.

Constrained decoding (``constrained``): each request carries the protocol grammar
(:func:`~frs_ros.reasoning.grammar.protocol_gbnf`, generated from the tool registry like
the local runtimes' grammar) in the field the ``server`` kind reads: llama.cpp's
``llama-server`` and ``llama-cpp-python`` take GBNF in ``grammar``; vLLM (0.12 and newer)
in ``structured_outputs.grammar``. Ollama's ``/v1/completions`` has no grammar field and
its native ``format`` constrains a whole reply to JSON, which the tag protocol is not, so
a constrained Ollama runtime is refused at construction.

Decoding settings: the local runtimes apply no repetition penalty, so every request says so
(``presence_penalty``/``frequency_penalty`` 0, and llama.cpp's ``repeat_penalty`` or vLLM's
``repetition_penalty`` 1.0: llama.cpp's default 1.1 changes greedy answers).

Timeouts: a request may take as long as the query's reasoning bound (the deadline) allows;
one that times out is never retried, since the server is most likely still computing it
and a retry would queue a second copy behind it.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args

from frs_ros.reasoning.grammar import protocol_gbnf, resumes_turn
from frs_ros.reasoning.runtime.base import (
    Completion,
    FinishReason,
    Sampling,
    chatml_prompt,
    cut_at_stop,
    simple_tokenize,
    templated_prompt,
    unclosed_stop,
    validate_request,
)

# URLError covers refused connections; timeouts and dropped connections surface directly.
_TRANSPORT_ERRORS = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
)
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_MAX_RETRY_AFTER_S = 30.0
#: request timeout when neither ``timeout_s`` nor a deadline bounds it
DEFAULT_REQUEST_TIMEOUT_S = 600.0

#: retries of a refused or dropped connection, 429 or 5xx, and the first wait between them
DEFAULT_MAX_RETRIES = 3
DEFAULT_BACKOFF_S = 0.5

ServerKind = Literal["llamacpp", "vllm", "ollama"]
SERVER_KINDS: tuple[str, ...] = get_args(ServerKind)


def neutral_penalties(server: str | None) -> dict[str, Any]:
    """Request fields that turn the server's repetition penalties off, as the local
    runtimes decode (llama.cpp defaults ``repeat_penalty`` to 1.1)."""
    fields: dict[str, Any] = {"presence_penalty": 0.0, "frequency_penalty": 0.0}
    if server == "llamacpp":
        fields["repeat_penalty"] = 1.0
    elif server == "vllm":
        fields["repetition_penalty"] = 1.0
    return fields


def grammar_fields(server: str, gbnf: str) -> dict[str, Any]:
    """The request fields that make a server of kind ``server`` decode inside ``gbnf``."""
    if server == "llamacpp":
        return {"grammar": gbnf}
    if server == "vllm":
        return {"structured_outputs": {"grammar": gbnf}}
    if server == "ollama":
        raise ValueError(
            "an Ollama server cannot constrain the protocol: its /v1/completions has no "
            "grammar field and its `format` (a JSON schema) makes the whole reply JSON; "
            "serve the model with llama.cpp (llama-server) or vLLM for constrained: true, "
            "or use a local runtime (hf, ort-genai) with constrained: true"
        )
    raise ValueError(f"server must be one of {SERVER_KINDS}, got {server!r}")


class EndpointError(RuntimeError):
    """The server refused the request or stayed unreachable after the retries."""


class _TimedOut(Exception):
    """The request timed out: the server may still be computing it."""


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OpenAIRuntime:
    """An :class:`~frs_ros.reasoning.runtime.base.LLMRuntime` over ``/v1/completions``.

    ``url`` is the API base (e.g. ``http://127.0.0.1:8000/v1``). ``tokenizer`` (optional,
    with ``apply_chat_template``) formats prompts and counts tokens; without it prompts use
    the Qwen3 ChatML format (:func:`~frs_ros.reasoning.runtime.base.chatml_prompt`) and
    ``n_tokens`` comes from the server's ``usage`` (else a word/punctuation count).
    Refused or dropped connections, 429 and 5xx are retried ``max_retries`` times with
    exponential backoff (``backoff_s``, doubled each time); other HTTP errors raise
    :class:`EndpointError` at once. A request's timeout is the time left before the
    deadline (the query's reasoning bound), or ``timeout_s`` when that is set and smaller
    (:data:`DEFAULT_REQUEST_TIMEOUT_S` without either); a timed-out request is not retried:
    past the deadline it is a ``deadline`` completion, before it an :class:`EndpointError`.
    ``extra_body`` is merged into every request last (server-specific options; it may
    override the neutral penalties).

    ``constrained`` makes every request carry the protocol grammar, in the field that the
    ``server`` kind (:data:`SERVER_KINDS`) reads (:func:`grammar_fields`).
    """

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str | None = None,
        tokenizer: Any = None,
        thinking: bool = False,
        sampling: Sampling | None = None,
        timeout_s: float | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_s: float = DEFAULT_BACKOFF_S,
        extra_body: dict[str, Any] | None = None,
        constrained: bool = False,
        server: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"endpoint url must start with http:// or https://, got {url!r}")
        if (timeout_s is not None and timeout_s <= 0) or max_retries < 0 or backoff_s < 0:
            raise ValueError("timeout_s must be > 0 (or null), max_retries and backoff_s >= 0")
        if api_key is None and api_key_env:
            api_key = os.environ.get(api_key_env)
            if api_key is None:
                raise ValueError(f"environment variable {api_key_env} (the API key) is not set")
        self.url = url.rstrip("/") + "/completions"
        self.model = model
        self.tokenizer = tokenizer
        self.thinking = thinking
        self.sampling = sampling or Sampling()
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.extra_body = dict(extra_body or {})
        if server is not None and server not in SERVER_KINDS:
            raise ValueError(f"server must be one of {SERVER_KINDS}, got {server!r}")
        self.server = server
        # (first turn, turn after </results>): GBNF of each, as request fields
        self._grammar_fields: tuple[dict[str, Any], dict[str, Any]] | None = None
        if constrained:
            if server is None:
                raise ValueError(
                    f"constrained decoding on a server needs runtime.server, one of "
                    f"{SERVER_KINDS}: each kind reads the grammar from another field"
                )
            self._grammar_fields = (
                grammar_fields(server, protocol_gbnf()),
                grammar_fields(server, protocol_gbnf(after_results=True)),
            )
            clash = set(self._grammar_fields[0]) & set(self.extra_body)
            if clash:
                raise ValueError(
                    f"endpoint.extra_body sets {sorted(clash)}, which constrained: true sends"
                )
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._sleep = sleep

    @property
    def parameter_count(self) -> int | None:
        """Unknown: the weights are the server's (efficiency tables say so, not 0)."""
        return None

    def format_prompt(self, system: str, user: str) -> str:
        if self.tokenizer is None:
            return chatml_prompt(system, user, thinking=self.thinking)
        return templated_prompt(self.tokenizer, system, user, thinking=self.thinking)

    def count_tokens(self, text: str) -> int:
        """Tokenizer count when a tokenizer was given, else a word/punctuation estimate."""
        if self.tokenizer is not None:
            return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return len(simple_tokenize(text))

    def complete(
        self,
        text: str,
        *,
        stop: Sequence[str],
        max_new_tokens: int,
        deadline: float | None = None,
    ) -> Completion:
        stops = validate_request(stop, max_new_tokens)
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": text,
            "max_tokens": max_new_tokens,
            "temperature": self.sampling.temperature,
            "top_p": self.sampling.top_p,
            **neutral_penalties(self.server),
            **self.extra_body,
        }
        if stops:
            body["stop"] = list(stops)
        if self.sampling.top_k:
            body["top_k"] = self.sampling.top_k
        if self.sampling.seed is not None:
            body["seed"] = self.sampling.seed
        if self._grammar_fields is not None:
            body |= self._grammar_fields[resumes_turn(text)]
        reply = self._post(body, deadline)
        if reply is None:
            return Completion("", 0, "deadline")
        return self._completion(reply, stops)

    def _completion(self, reply: dict[str, Any], stops: tuple[str, ...]) -> Completion:
        try:
            choice = reply["choices"][0]
            out = choice["text"]
        except (KeyError, IndexError, TypeError) as err:
            raise EndpointError(f"unexpected reply from {self.url}: {str(reply)[:300]}") from err
        reason: FinishReason = "length" if choice.get("finish_reason") == "length" else "stop"
        out, hit = cut_at_stop(out, stops)  # also guards against servers that ignore `stop`
        if hit:
            reason = "stop"
        elif reason == "stop":
            if "stop_reason" in choice or "matched_stop" in choice:
                matched = choice.get("stop_reason", choice.get("matched_stop"))
            else:  # the server does not say: the open protocol block tells
                matched = unclosed_stop(out, stops)
            if isinstance(matched, str) and matched in stops:
                out += matched
        usage = reply.get("usage") or {}
        n_tokens = usage.get("completion_tokens")
        if not isinstance(n_tokens, int):
            n_tokens = self.count_tokens(out)
        return Completion(out, n_tokens, reason)

    def _post(self, body: dict[str, Any], deadline: float | None) -> dict[str, Any] | None:
        """The decoded JSON reply, or None when the deadline passed first."""
        data = json.dumps(body).encode()
        last_error = ""
        for attempt in range(self.max_retries + 1):
            timeout = self.timeout_s
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                timeout = left if timeout is None else min(timeout, left)
            elif timeout is None:
                timeout = DEFAULT_REQUEST_TIMEOUT_S
            try:
                return self._request_once(data, timeout)
            except _TimedOut:
                if deadline is not None and time.monotonic() >= deadline - 0.05:
                    return None
                raise EndpointError(
                    f"{self.url} did not answer within {timeout:.0f} s (endpoint.timeout_s); "
                    "not retried: the server may still be working on the request"
                ) from None
            except _Retryable as err:
                last_error = str(err)
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                if attempt < self.max_retries:
                    wait = self.backoff_s * 2**attempt
                    if err.retry_after is not None:
                        wait = max(wait, min(err.retry_after, _MAX_RETRY_AFTER_S))
                    if deadline is not None:
                        wait = min(wait, max(0.0, deadline - time.monotonic()))
                    self._sleep(wait)
        raise EndpointError(
            f"{self.url} failed after {self.max_retries + 1} attempts: {last_error}"
        )

    def _request_once(self, data: bytes, timeout: float) -> dict[str, Any]:
        request = urllib.request.Request(self.url, data=data, headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")[:500]
            message = f"HTTP {err.code} from {self.url}: {detail}"
            if err.code in _RETRY_STATUS:
                raise _Retryable(message, _retry_after(err.headers.get("Retry-After"))) from err
            raise EndpointError(message) from err
        except _TRANSPORT_ERRORS as err:
            if isinstance(err, TimeoutError) or isinstance(
                getattr(err, "reason", None), TimeoutError
            ):
                raise _TimedOut from err
            raise _Retryable(f"transport error talking to {self.url}: {err}") from err
        try:
            # json.loads is Any: an object per the API; _completion reports any other shape
            reply: dict[str, Any] = json.loads(payload)
            return reply
        except json.JSONDecodeError as err:
            raise EndpointError(f"{self.url} replied with invalid JSON: {payload[:200]!r}") from err


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date; the exponential backoff applies
