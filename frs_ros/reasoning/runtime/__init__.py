"""LLM runtimes for the reasoner (docs/ARCHITECTURE.md, "LLM runtime").

``HFRuntime`` (transformers, KV-cache prefix reuse), ``OpenAIRuntime`` (OpenAI-compatible
``/v1/completions`` server) and ``ScriptedRuntime`` (played-back outputs for tests) share
the :class:`LLMRuntime` protocol; ``load_runtime`` builds one from config. The HF and
OpenAI runtimes import transformers/torch lazily, so importing this package stays light.
"""

from frs_ros.reasoning.runtime.base import (
    Completion,
    FinishReason,
    LLMRuntime,
    Sampling,
    ScriptedCall,
    ScriptedRuntime,
    ScriptExhaustedError,
    chatml_prompt,
    simple_tokenize,
)
from frs_ros.reasoning.runtime.factory import load_runtime

__all__ = [
    "Completion",
    "FinishReason",
    "LLMRuntime",
    "Sampling",
    "ScriptExhaustedError",
    "ScriptedCall",
    "ScriptedRuntime",
    "chatml_prompt",
    "load_runtime",
    "simple_tokenize",
]
