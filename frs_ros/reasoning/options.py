"""The reasoner's command-line options, shared by ``frs segment`` and ``frs eval``."""

from __future__ import annotations

import argparse

from frs_ros.reasoning.engine import ReasonerConfig
from frs_ros.reasoning.prompt import PROMPT_STYLES


def add_reasoner_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-rounds", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--timeout", type=float, default=60.0, help="reasoning wall-time bound (s)")
    parser.add_argument(
        "--prompt",
        choices=PROMPT_STYLES,
        default="full",
        help="system prompt: full (documents every tool) | brief (names them); serve a model "
        "with the prompt it was trained with",
    )


def reasoner_config(args: argparse.Namespace) -> ReasonerConfig:
    return ReasonerConfig(
        max_rounds=args.max_rounds,
        max_new_tokens=args.max_new_tokens,
        timeout_s=args.timeout,
        prompt=args.prompt,
    )
