"""Few-shot examples for the reasoner's prompt: solved benchmark samples from the TRAIN split.

``ReasonerConfig.few_shot = k`` puts the first ``k`` examples into the system prompt (twin,
query and the oracle's full rollout, tool results included), so a pretrained model that
has never seen the protocol sees it used. They ship with the package
(``frs_ros/assets/few_shot.jsonl``), so the same ``k`` gives the same examples on every
machine (robot, evaluation, training) with no data folder and without importing the
benchmark generator here (it sits above the reasoner). The generator wrote them:
``python -m frs_ros.benchmark.examples --few-shot`` rewrites the file, and a test checks
that it still equals what the generator makes (``frs eval --few-shot K``: docs/benchmark.md).

They come from the ``train`` split, whose scenes the validation and test splits never
share (docs/benchmark.md, "Generate"); ``frs eval`` refuses to evaluate train samples with
few-shot examples in the prompt.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from frs_ros.reasoning.prompt import SolvedExample
from frs_ros.twin import Twin

FEW_SHOT_ASSET = Path(__file__).resolve().parents[1] / "assets" / "few_shot.jsonl"
FEW_SHOT_SPLIT = "train"
MAX_FEW_SHOT = 6  # lines of FEW_SHOT_ASSET


def check_few_shot(k: object) -> None:
    """ValueError naming the setting unless ``k`` is an integer in [0, MAX_FEW_SHOT]."""
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= MAX_FEW_SHOT:
        raise ValueError(f"few_shot must be an integer in [0, {MAX_FEW_SHOT}], got {k!r}")


@lru_cache(maxsize=1)
def _shipped() -> tuple[SolvedExample, ...]:
    lines = FEW_SHOT_ASSET.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return tuple(SolvedExample(Twin.from_dict(r["twin"]), r["query"], r["chain"]) for r in rows)


def few_shot_examples(k: int) -> tuple[SolvedExample, ...]:
    """The first ``k`` shipped examples."""
    check_few_shot(k)
    return _shipped()[:k]
