"""The reasoner's command-line options, shared by ``frs segment`` and ``frs eval``."""

from __future__ import annotations

import argparse

from frs_ros.reasoning.engine import ReasonerConfig
from frs_ros.reasoning.few_shot import MAX_FEW_SHOT
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
    parser.add_argument(
        "--few-shot",
        type=int,
        default=0,
        metavar="K",
        help=f"put K solved examples (benchmark train split, oracle rollouts) into the system "
        f"prompt, 0..{MAX_FEW_SHOT} (default 0: zero-shot)",
    )


# ReasonerConfig's own validator names its fields; a command-line user typed the flags.
_FLAGS = {
    "max_rounds": "--max-rounds",
    "max_new_tokens": "--max-new-tokens",
    "timeout_s": "--timeout",
    "few_shot": "--few-shot",
}


def reasoner_config(args: argparse.Namespace) -> ReasonerConfig:
    """The validated config of the flags (``ReasonerConfig.__post_init__`` is the one
    validator); a bad value raises ValueError naming the flag. Call it before loading any
    model, so a typo fails at once. Not ``with_query_options``: there 0 means "unset", while
    ``--max-rounds 0`` means no tool rounds."""
    try:
        return ReasonerConfig(
            max_rounds=args.max_rounds,
            max_new_tokens=args.max_new_tokens,
            timeout_s=args.timeout,
            prompt=args.prompt,
            few_shot=args.few_shot,
        )
    except ValueError as err:
        message = str(err)
        field = message.split(" ", 1)[0]
        if field in _FLAGS:
            message = f"{_FLAGS[field]}: {message}"
        raise ValueError(message) from None
