"""Replaying a sample's chain through the real system.

``replay`` re-runs a chain's model-written parts (``protocol.model_parts``) through the
segmenter and its engine, so its ``<results>`` are what the tools return today and the
engine's spans are known: the oracle predictor, the SFT data and the benchmark's self-check
all replay chains this way. It sits above ``frs_ros.samples``, which reads and writes
samples without loading the segmenter.
"""

from __future__ import annotations

from frs_ros.reasoning import ReasonerConfig, ReasoningResult
from frs_ros.reasoning.engine import MAX_NEW_TOKENS
from frs_ros.reasoning.protocol import model_parts
from frs_ros.reasoning.runtime.base import ScriptedRuntime
from frs_ros.segmenter import ReasoningSegmenter
from frs_ros.twin import Twin


def replay(
    twin: Twin, query: str, chain: str, config: ReasonerConfig | None = None
) -> ReasoningResult:
    """Run ``chain``'s model-written parts through the real engine (tools really run). The
    default bounds never cut a chain: a replay checks content, not speed."""
    runtime = ScriptedRuntime(model_parts(chain))
    cfg = config or ReasonerConfig(max_rounds=16, max_new_tokens=MAX_NEW_TOKENS, timeout_s=3600)
    return ReasoningSegmenter(runtime=runtime, config=cfg).ask(query, twin=twin).result
