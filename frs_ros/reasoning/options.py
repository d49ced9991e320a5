"""The reasoner's command-line options, shared by ``frs segment`` and ``frs eval``.

Each flag is a :class:`ReasonerConfig` setting with that setting's default, so the CLI,
the ROS parameters (``ros/endpoints.py``) and the Python API cannot disagree.
"""

from __future__ import annotations

import argparse
from typing import Any

from frs_ros.reasoning.engine import ReasonerConfig
from frs_ros.reasoning.few_shot import MAX_FEW_SHOT
from frs_ros.reasoning.prompt import PROMPT_STYLES

# flag, ReasonerConfig field, type, help, extra argparse keywords
_FLAGS: tuple[tuple[str, str, type, str, dict[str, Any]], ...] = (
    ("--max-rounds", "max_rounds", int, "<plan> rounds a query may execute", {}),
    ("--max-new-tokens", "max_new_tokens", int, "generated tokens over the whole rollout", {}),
    ("--timeout", "timeout_s", float, "reasoning wall-time bound (s)", {}),
    (
        "--prompt",
        "prompt",
        str,
        "system prompt: full (documents every tool) | brief (names them); serve a model "
        "with the prompt it was trained with",
        {"choices": PROMPT_STYLES},
    ),
    (
        "--few-shot",
        "few_shot",
        int,
        f"put K solved examples (benchmark train split, oracle rollouts) into the system "
        f"prompt, 0..{MAX_FEW_SHOT} (0: zero-shot)",
        {"metavar": "K"},
    ),
)


def add_reasoner_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ReasonerConfig.defaults()
    for flag, name, kind, text, extra in _FLAGS:
        parser.add_argument(
            flag,
            dest=name,
            type=kind,
            default=defaults[name],
            help=f"{text} (default: {defaults[name]})",
            **extra,
        )


def reasoner_config(args: argparse.Namespace) -> ReasonerConfig:
    """The validated config of the flags (``ReasonerConfig.__post_init__`` is the one
    validator); a bad value raises ValueError naming the flag. Call it before loading any
    model, so a typo fails at once. Not ``with_query_options``: there 0 means "unset", while
    ``--max-rounds 0`` means no tool rounds."""
    try:
        return ReasonerConfig.from_mapping({name: getattr(args, name) for _, name, *_ in _FLAGS})
    except ValueError as err:
        message = str(err)
        field = message.split(" ", 1)[0]
        flag = next((f for f, name, *_ in _FLAGS if name == field), None)
        raise ValueError(f"{flag}: {message}" if flag else message) from None
