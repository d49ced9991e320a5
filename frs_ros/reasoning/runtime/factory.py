"""Build a runtime from ``config/reasoner*.yaml`` (the ``runtime:`` section).

Keys (unknown keys are an error, to catch typos):

- ``kind``: ``hf`` | ``ort-genai`` | ``openai`` | ``scripted``
- ``model``: hub id or local directory (``hf``; ``tiny`` = random-weight test profile), the
  directory ``frs export-cpu`` wrote or a ``.gguf`` file converted once into a cache
  (``ort-genai``; frs_ros.reasoning.runtime.gguf_cache), or the served model name (``openai``)
- ``adapter``: LoRA adapter directory (``hf``), ``dtype``, ``device``, ``local_files_only``
- ``threads`` (intra-op threads, null = one per core) and ``context`` (tokens the KV cache
  holds) for ``ort-genai``, the CPU runtime (docs/cpu.md)
- ``model`` may be a local ``.gguf`` file (``hf``; ``frs models get``)
- ``constrained``: decode inside the protocol grammar (``hf``, ``ort-genai``;
  frs_ros.reasoning.grammar); for ``openai`` the server does, given the grammar in the
  field of its ``server`` kind (``llamacpp`` | ``vllm``; ``ollama`` cannot)
- ``grammar``: ``{max_reason_chars, max_calls, max_string_chars}``, other bounds of that
  grammar than its defaults (300 characters of first ``<reason>``, 8 calls per plan, 40
  characters per string argument; ``hf``, ``ort-genai``)
- ``thinking``: Qwen3 thinking mode on/off in the chat template
- ``sampling``: ``{temperature, top_p, top_k, seed}`` (temperature 0 = greedy)
- ``endpoint``: ``{url, api_key_env, timeout_s, max_retries, backoff_s, extra_body}``
  and ``tokenizer`` (a directory whose chat template formats prompts) for ``openai``
- ``outputs``: the scripted continuations (``scripted``)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, cast

from frs_ros.paths import config_file, config_path
from frs_ros.reasoning.runtime.base import LLMRuntime, Sampling, ScriptedRuntime
from frs_ros.yaml_safe import load_yaml_mapping

if TYPE_CHECKING:  # torch-backed: imported when such a runtime is built
    from frs_ros.reasoning.runtime.decoding import CachedTokenRuntime

_KEYS = {
    "hf": {
        "kind",
        "model",
        "adapter",
        "dtype",
        "device",
        "thinking",
        "sampling",
        "local_files_only",
        "constrained",
        "grammar",
    },
    "ort-genai": {
        "kind",
        "model",
        "threads",
        "context",
        "thinking",
        "sampling",
        "constrained",
        "grammar",
    },
    "openai": {
        "kind",
        "model",
        "thinking",
        "sampling",
        "endpoint",
        "tokenizer",
        "constrained",
        "server",
    },
    "scripted": {"kind", "outputs", "thinking"},
}
_ENDPOINT_KEYS = {"url", "api_key_env", "timeout_s", "max_retries", "backoff_s", "extra_body"}


def reasoner_config_path(spec: str | os.PathLike[str]) -> Path:
    """The YAML file of a reasoner config: an existing path, a shipped name (``default``
    → ``config/reasoner.yaml``, ``cpu`` → ``config/reasoner_cpu.yaml``...) or a file name
    in the config directory (``reasoner_cpu.yaml``, as ROS parameters give it)."""
    if not Path(spec).suffix and not Path(spec).exists():
        spec = "reasoner.yaml" if str(spec) == "default" else f"reasoner_{spec}.yaml"
    try:
        return config_file(spec)
    except FileNotFoundError as err:
        shipped = ", ".join(sorted(p.name for p in config_path().glob("reasoner*.yaml")))
        raise FileNotFoundError(f"reasoner {err} (shipped: {shipped})") from None


def load_runtime(
    config: Mapping[str, Any] | str | os.PathLike[str], *, device: str | None = None
) -> LLMRuntime:
    """A runtime from a reasoner config (a name or YAML path, see ``reasoner_config_path``)
    or a mapping (the whole config or its ``runtime`` section). ``device`` overrides the
    torch runtime's device; the other runtimes have none and ignore it."""
    if isinstance(config, str | os.PathLike):
        config = load_yaml_mapping(reasoner_config_path(config), "reasoner config")
    if not isinstance(config, Mapping):
        raise TypeError(f"runtime config must be a mapping, got {type(config).__name__}")
    cfg = dict(config.get("runtime", config))
    if device and cfg.get("kind") == "hf":
        cfg["device"] = device
    kind = cfg.get("kind")
    if kind not in _KEYS:
        raise ValueError(f"runtime kind must be one of {sorted(_KEYS)}, got {kind!r}")
    unknown = set(cfg) - _KEYS[kind]
    if unknown:
        raise ValueError(f"unknown keys for a {kind} runtime: {sorted(unknown)}")
    thinking = bool(cfg.get("thinking", False))
    if kind == "scripted":
        return ScriptedRuntime(cfg.get("outputs") or [], thinking=thinking)
    sampling = _sampling(cfg.get("sampling"))
    if kind == "openai":
        return _openai(cfg, thinking, sampling)
    _grammar_bounds(cfg)  # a bad section fails before the model loads
    runtime = (_hf if kind == "hf" else _ort_genai)(cfg, thinking, sampling)
    if cfg.get("grammar"):
        from frs_ros.reasoning.grammar import ProtocolGrammar

        runtime.grammar = ProtocolGrammar(**_grammar_bounds(cfg))
    return runtime


_GRAMMAR_KEYS = {"max_reason_chars", "max_calls", "max_string_chars"}


class _GrammarBounds(TypedDict, total=False):
    """The keyword arguments of ``ProtocolGrammar`` that ``runtime.grammar`` may set."""

    max_reason_chars: int
    max_calls: int
    max_string_chars: int


def _grammar_bounds(cfg: Mapping[str, Any]) -> _GrammarBounds:
    """``runtime.grammar``: bounds of the protocol grammar (``max_reason_chars`` of the
    first ``<reason>``, ``max_calls`` per plan, ``max_string_chars`` per string argument)
    for a constrained runtime."""
    section = cfg.get("grammar")
    if section is None:
        return {}
    if not isinstance(section, Mapping) or set(section) - _GRAMMAR_KEYS:
        raise ValueError(f"runtime.grammar takes {sorted(_GRAMMAR_KEYS)}, got {section!r}")
    if not cfg.get("constrained"):
        raise ValueError("runtime.grammar bounds constrained decoding: set constrained: true")
    for key, value in section.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"runtime.grammar.{key} must be a positive integer, got {value!r}")
    # checked above: the keys are _GRAMMAR_KEYS (the TypedDict's), the values positive ints
    return cast(_GrammarBounds, dict(section))


def _sampling(section: Any) -> Sampling:
    if section is None:
        return Sampling()
    if not isinstance(section, Mapping):
        raise TypeError("runtime.sampling must be a mapping {temperature, top_p, top_k, seed}")
    try:
        return Sampling(**section)
    except TypeError as err:
        raise ValueError(f"bad runtime.sampling {dict(section)}: {err}") from err


def _hf(cfg: dict[str, Any], thinking: bool, sampling: Sampling) -> CachedTokenRuntime:
    from frs_ros.reasoning.runtime.hf import DEFAULT_MODEL, HFRuntime

    model = cfg.get("model") or DEFAULT_MODEL
    if model == "tiny":
        return HFRuntime.tiny(
            dtype=cfg.get("dtype") or "float32",
            adapter=cfg.get("adapter"),
            thinking=thinking,
            sampling=sampling,
            constrained=bool(cfg.get("constrained", False)),
        )
    return HFRuntime.from_pretrained(
        model,
        adapter=cfg.get("adapter"),
        dtype=cfg.get("dtype") or "auto",
        device=cfg.get("device") or "cpu",
        thinking=thinking,
        sampling=sampling,
        local_files_only=cfg.get("local_files_only"),
        constrained=bool(cfg.get("constrained", False)),
    )


def _ort_genai(cfg: dict[str, Any], thinking: bool, sampling: Sampling) -> CachedTokenRuntime:
    from frs_ros.reasoning.runtime.ort_genai import DEFAULT_CONTEXT, OrtGenaiRuntime

    if not cfg.get("model"):
        raise ValueError("an ort-genai runtime needs runtime.model (a `frs export-cpu` directory)")
    model = str(cfg["model"])
    if model.endswith(".gguf"):  # converted to int4 once, then loaded from the cache
        from frs_ros.reasoning.runtime.gguf_cache import converted_model

        model = str(converted_model(model, log=lambda line: print(line, file=sys.stderr)))
    return OrtGenaiRuntime(
        model,
        threads=cfg.get("threads"),
        context=int(cfg.get("context") or DEFAULT_CONTEXT),
        thinking=thinking,
        sampling=sampling,
        constrained=bool(cfg.get("constrained", False)),
    )


def _openai(cfg: dict[str, Any], thinking: bool, sampling: Sampling) -> LLMRuntime:
    from frs_ros.reasoning.runtime.openai import OpenAIRuntime

    endpoint = cfg.get("endpoint") or {}
    if not isinstance(endpoint, Mapping) or "url" not in endpoint:
        raise ValueError("an openai runtime needs runtime.endpoint.url")
    unknown = set(endpoint) - _ENDPOINT_KEYS
    if unknown:
        raise ValueError(f"unknown keys in runtime.endpoint: {sorted(unknown)}")
    if not cfg.get("model"):
        raise ValueError("an openai runtime needs runtime.model (the served model name)")
    tokenizer = None
    if cfg.get("tokenizer"):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(cfg["tokenizer"]), local_files_only=True)
    return OpenAIRuntime(
        endpoint["url"],
        cfg["model"],
        tokenizer=tokenizer,
        thinking=thinking,
        sampling=sampling,
        constrained=bool(cfg.get("constrained", False)),
        server=cfg.get("server"),
        **{k: v for k, v in endpoint.items() if k != "url"},
    )
