"""The ``runtime:`` section of a reasoner config (``config/reasoner*.yaml``): one frozen
dataclass per runtime ``kind``, whose fields are the section's keys.

A section is checked field by field when it is read (``frs_ros.validation.config``): types
strictly, ranges as annotated, keys that are no field refused (a typo is an error), so a bad
section is one ``ValueError`` naming the field before any model loads.
``frs_ros.reasoning.runtime.factory`` builds the runtime from the dataclass. Paths are
relative to the working directory.

This module imports no torch: reading a config stays light.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeAlias

from annotated_types import Ge, Gt

from frs_ros import validation
from frs_ros.reasoning.grammar import MAX_CALLS, MAX_REASON_CHARS, MAX_STRING_CHARS
from frs_ros.reasoning.runtime.base import Sampling
from frs_ros.reasoning.runtime.openai import DEFAULT_BACKOFF_S, DEFAULT_MAX_RETRIES, ServerKind

#: The model of an ``hf`` runtime without ``model`` (here, not in the torch-backed hf module).
DEFAULT_MODEL = "Qwen/Qwen3-0.6B"
#: Tokens the KV cache of an ``ort-genai`` runtime holds without ``context``.
DEFAULT_CONTEXT = 4096

Positive = Annotated[int, Ge(1)]


@dataclass(frozen=True)
class GrammarBounds:
    """``grammar``: bounds of the protocol grammar (``frs_ros.reasoning.grammar``) for a
    constrained local runtime; a key left out keeps the grammar's default."""

    max_reason_chars: Positive = MAX_REASON_CHARS  # characters of the first <reason>
    max_calls: Positive = MAX_CALLS  # tool calls per plan
    max_string_chars: Positive = MAX_STRING_CHARS  # characters per string argument


@dataclass(frozen=True)
class Endpoint:
    """``endpoint``: the server of an ``openai`` runtime and how it is asked."""

    url: str = ""  # the API base, e.g. http://127.0.0.1:8000/v1 (required)
    api_key_env: str | None = None  # the environment variable holding the API key, if any
    # per request; null: as long as the query's reasoning bound (--timeout) allows
    timeout_s: Annotated[float, Gt(0.0)] | None = None
    # retries of a refused or dropped connection, 429 or 5xx (other errors fail at once)
    max_retries: Annotated[int, Ge(0)] = DEFAULT_MAX_RETRIES
    backoff_s: Annotated[float, Ge(0.0)] = DEFAULT_BACKOFF_S  # first wait, doubled each retry
    # merged into every request last (server-specific options)
    extra_body: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Runtime:
    """The key every kind takes."""

    thinking: bool = False  # Qwen3 thinking mode on/off in the chat template


@dataclass(frozen=True)
class _Decoding(_Runtime):
    """The keys of the runtimes that decode a model (every kind but ``scripted``)."""

    # {temperature, top_p, top_k, seed}; temperature 0 = greedy
    sampling: Sampling = field(default_factory=Sampling)
    # decode inside the protocol grammar (frs_ros.reasoning.grammar): the local runtimes
    # mask the tokens; an openai runtime's server does, given the grammar (see ``server``)
    constrained: bool = False


@dataclass(frozen=True)
class _Local(_Decoding):
    """The keys of the runtimes that decode here (``hf``, ``ort-genai``)."""

    grammar: GrammarBounds | None = None  # other bounds than the grammar's defaults
    adapter: str | None = None  # LoRA adapter directory (or asset:NAME), null: the base model
    # prompt-lookup tokens checked per decode step (0: off): same output, fewer forward
    # passes where the reply copies the prompt (ids, labels); an ort-genai model must keep
    # every position's logits (a .gguf is converted so; else `frs export-cpu --all-logits`)
    draft_tokens: Annotated[int, Ge(0)] = 0

    def __post_init__(self) -> None:
        if self.grammar is not None and not self.constrained:
            raise ValueError("grammar bounds constrained decoding: set constrained: true")


@dataclass(frozen=True)
class HFRuntimeConfig(_Local):
    """``kind: hf``: transformers (``frs_ros.reasoning.runtime.hf``), CPU or GPU."""

    kind: Literal["hf"] = "hf"
    # hub id or local directory; a local .gguf file (`frs models get`; dequantised);
    # tiny: the random-weight test profile
    model: str = DEFAULT_MODEL
    # auto (the checkpoint's) | float32 | bfloat16 | float16; null: float32 for tiny, else auto
    dtype: str | None = None
    device: str = "cpu"  # cpu | cuda | cuda:N | auto
    local_files_only: bool | None = None  # null: when model is a directory or HF_HUB_OFFLINE=1


@dataclass(frozen=True)
class OrtGenaiRuntimeConfig(_Local):
    """``kind: ort-genai``: the int4 CPU runtime (onnxruntime-genai, docs/cpu.md)."""

    kind: Literal["ort-genai"] = "ort-genai"
    # the directory `frs export-cpu` wrote, or a .gguf file converted once into a cache
    # (frs_ros.reasoning.runtime.gguf_cache, with `adapter` merged in); required
    model: str = ""
    threads: Positive | None = None  # intra-op threads; null: one per CPU available
    # tokens the preallocated KV cache holds (prompt + generated)
    context: Annotated[int, Ge(2)] = DEFAULT_CONTEXT
    # what a .gguf model is converted to (null: int4); int8 keeps a small model's greedy
    # choices where int4 and int4-mixed change them (docs/cpu.md)
    precision: Literal["int4", "int4-mixed", "int8", "fp32"] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.model:
            raise ValueError(
                "an ort-genai runtime needs runtime.model (a `frs export-cpu` directory)"
            )
        if not self.model.endswith(".gguf") and (self.adapter or self.precision):
            raise ValueError(
                "runtime.adapter and runtime.precision apply only to a .gguf model, which an "
                "ort-genai runtime converts; an `frs export-cpu` directory has both already "
                "(frs export-cpu MODEL --adapter DIR --precision P)"
            )


@dataclass(frozen=True)
class OpenAIRuntimeConfig(_Decoding):
    """``kind: openai``: an OpenAI-compatible server (``frs_ros.reasoning.runtime.openai``)."""

    kind: Literal["openai"] = "openai"
    model: str = ""  # the served model name (or LoRA module name); required
    endpoint: Endpoint = field(default_factory=Endpoint)
    # a local tokenizer directory whose chat template formats prompts; null: Qwen3 ChatML
    tokenizer: str | None = None
    # the server's kind, where a constrained request puts the grammar (ollama cannot)
    server: ServerKind | None = None

    def __post_init__(self) -> None:
        if not self.endpoint.url:
            raise ValueError("an openai runtime needs runtime.endpoint.url")
        if not self.model:
            raise ValueError("an openai runtime needs runtime.model (the served model name)")


@dataclass(frozen=True)
class ScriptedRuntimeConfig(_Runtime):
    """``kind: scripted``: played-back outputs (tests, demos)."""

    kind: Literal["scripted"] = "scripted"
    outputs: tuple[str, ...] = ()  # the continuations, one per call


RuntimeConfig: TypeAlias = (
    HFRuntimeConfig | OrtGenaiRuntimeConfig | OpenAIRuntimeConfig | ScriptedRuntimeConfig
)
_CLASSES: tuple[type[RuntimeConfig], ...] = (
    HFRuntimeConfig,
    OrtGenaiRuntimeConfig,
    OpenAIRuntimeConfig,
    ScriptedRuntimeConfig,
)
#: The dataclass of each ``kind``.
RUNTIME_KINDS: dict[str, type[RuntimeConfig]] = {cls.kind: cls for cls in _CLASSES}


def runtime_config(
    config: Mapping[str, Any], where: str = "reasoner config", section: str = "runtime"
) -> RuntimeConfig:
    """The dataclass of a runtime section: ``config`` is the section or a whole reasoner
    config (its ``runtime``). A bad section is a ``ValueError`` naming ``where`` and
    ``section.field``."""
    data = validation.mapping(config.get("runtime", config), f"{where}: {section}")
    kind = data.get("kind")
    if kind not in RUNTIME_KINDS:
        raise ValueError(
            f"{where}: {section}.kind must be one of {sorted(RUNTIME_KINDS)}, got {kind!r}"
        )
    return validation.config(RUNTIME_KINDS[kind], data, where, section=section)
