"""Reasoning over the twin: tools, rollout protocol and engine, LLM runtimes, answers."""

from frs_ros.reasoning.answers import AnswerMasks, FrameMasks, answer_masks
from frs_ros.reasoning.engine import (
    Reasoner,
    ReasonerConfig,
    ReasoningResult,
    Transcript,
    validate_query,
)
from frs_ros.reasoning.tools import TOOLS, ToolContext, ToolRegistry

__all__ = [
    "TOOLS",
    "AnswerMasks",
    "FrameMasks",
    "Reasoner",
    "ReasonerConfig",
    "ReasoningResult",
    "ToolContext",
    "ToolRegistry",
    "Transcript",
    "answer_masks",
    "validate_query",
]
