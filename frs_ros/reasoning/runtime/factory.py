"""Build a runtime from ``config/reasoner*.yaml`` (the ``runtime:`` section).

The keys of each runtime kind are the fields of its dataclass in
``frs_ros.reasoning.runtime.config`` (one per ``kind``: ``hf``, ``ort-genai``, ``openai``,
``scripted``); a section is read into it, checked, before any model loads.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from frs_ros.paths import config_file, config_path
from frs_ros.reasoning.runtime.base import LLMRuntime, ScriptedRuntime
from frs_ros.reasoning.runtime.config import (
    HFRuntimeConfig,
    OpenAIRuntimeConfig,
    OrtGenaiRuntimeConfig,
    RuntimeConfig,
    ScriptedRuntimeConfig,
    runtime_config,
)
from frs_ros.yaml_safe import load_yaml_mapping

if TYPE_CHECKING:  # torch-backed: imported when such a runtime is built
    from frs_ros.reasoning.runtime.decoding import CachedTokenRuntime


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
        path = reasoner_config_path(config)
        spec = runtime_config(load_yaml_mapping(path, "reasoner config"), f"reasoner config {path}")
    elif isinstance(config, Mapping):
        spec = runtime_config(config)
    else:
        raise TypeError(f"runtime config must be a mapping, got {type(config).__name__}")
    if device and isinstance(spec, HFRuntimeConfig):
        spec = dataclasses.replace(spec, device=device)
    return build_runtime(spec)


def build_runtime(cfg: RuntimeConfig) -> LLMRuntime:
    """The runtime a checked ``runtime:`` section describes (models load here)."""
    if isinstance(cfg, ScriptedRuntimeConfig):
        return ScriptedRuntime(cfg.outputs, thinking=cfg.thinking)
    if isinstance(cfg, OpenAIRuntimeConfig):
        return _openai(cfg)
    runtime = _hf(cfg) if isinstance(cfg, HFRuntimeConfig) else _ort_genai(cfg)
    if cfg.grammar is not None:
        from frs_ros.reasoning.grammar import ProtocolGrammar

        runtime.grammar = ProtocolGrammar(
            max_reason_chars=cfg.grammar.max_reason_chars,
            max_calls=cfg.grammar.max_calls,
            max_string_chars=cfg.grammar.max_string_chars,
        )
    return runtime


def _hf(cfg: HFRuntimeConfig) -> CachedTokenRuntime:
    from frs_ros.reasoning.runtime.hf import HFRuntime

    if cfg.model == "tiny":
        return HFRuntime.tiny(
            dtype=cfg.dtype or "float32",
            adapter=cfg.adapter,
            thinking=cfg.thinking,
            sampling=cfg.sampling,
            constrained=cfg.constrained,
            draft_tokens=cfg.draft_tokens,
        )
    return HFRuntime.from_pretrained(
        cfg.model,
        adapter=cfg.adapter,
        dtype=cfg.dtype or "auto",
        device=cfg.device,
        thinking=cfg.thinking,
        sampling=cfg.sampling,
        local_files_only=cfg.local_files_only,
        constrained=cfg.constrained,
        draft_tokens=cfg.draft_tokens,
    )


def _ort_genai(cfg: OrtGenaiRuntimeConfig) -> CachedTokenRuntime:
    from frs_ros.reasoning.runtime.ort_genai import OrtGenaiRuntime

    model = cfg.model
    if model.endswith(".gguf"):  # converted to int4 once, then loaded from the cache
        from frs_ros.reasoning.runtime.gguf_cache import converted_model

        model = str(
            converted_model(
                model,
                precision=cfg.precision or "int4",
                adapter=cfg.adapter,
                all_logits=cfg.draft_tokens > 0,
                log=lambda line: print(line, file=sys.stderr),
            )
        )
    return OrtGenaiRuntime(
        model,
        threads=cfg.threads,
        context=cfg.context,
        thinking=cfg.thinking,
        sampling=cfg.sampling,
        constrained=cfg.constrained,
        draft_tokens=cfg.draft_tokens,
    )


def _openai(cfg: OpenAIRuntimeConfig) -> LLMRuntime:
    from frs_ros.reasoning.runtime.openai import OpenAIRuntime

    tokenizer = None
    if cfg.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(cfg.tokenizer, local_files_only=True)
    endpoint = cfg.endpoint
    return OpenAIRuntime(
        endpoint.url,
        cfg.model,
        api_key_env=endpoint.api_key_env,
        timeout_s=endpoint.timeout_s,
        max_retries=endpoint.max_retries,
        backoff_s=endpoint.backoff_s,
        extra_body=endpoint.extra_body,
        tokenizer=tokenizer,
        thinking=cfg.thinking,
        sampling=cfg.sampling,
        constrained=cfg.constrained,
        server=cfg.server,
    )
