"""Few-shot examples for the reasoner's prompt: solved benchmark samples from the TRAIN split.

``ReasonerConfig.few_shot = k`` puts the first ``k`` of :data:`FEW_SHOT_CELLS` into the
system prompt (twin, query and the oracle's full rollout, tool results included), so a
pretrained model that has never seen the protocol sees it used. The samples are
generated, not read from a file: the generator is seeded, so the same ``k`` gives the same
examples on every machine (robot, evaluation, training) with no data folder to ship.

They come from the ``train`` split (seed :data:`FEW_SHOT_SEED`), whose scenes the
validation and test splits never share (docs/benchmark.md, "Generate"); ``frs eval``
refuses to evaluate train samples with few-shot examples in the prompt.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from frs_ros.samples import Sample

FEW_SHOT_SPLIT = "train"
FEW_SHOT_SEED = 0
# (category, level, negative) of example i, in the order k takes them. Level 2 first: each
# shows two steps (knowledge or a filter, then a tool), and the three categories use
# different tools; then a negative (answer []), then level 3 (longer chains).
FEW_SHOT_CELLS: tuple[tuple[str, int, bool], ...] = (
    ("semantic", 2, False),
    ("temporal", 2, False),
    ("spatial", 2, False),
    ("semantic", 1, True),
    ("spatial", 3, False),
    ("temporal", 3, False),
)
MAX_FEW_SHOT = len(FEW_SHOT_CELLS)


def check_few_shot(k: object) -> None:
    """ValueError naming the setting unless ``k`` is an integer in [0, MAX_FEW_SHOT]."""
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= MAX_FEW_SHOT:
        raise ValueError(f"few_shot must be an integer in [0, {MAX_FEW_SHOT}], got {k!r}")


@lru_cache(maxsize=MAX_FEW_SHOT + 1)
def few_shot_examples(k: int) -> tuple[Sample, ...]:
    """The first ``k`` examples: train sample ``i`` of cell ``FEW_SHOT_CELLS[i]``."""
    check_few_shot(k)
    # imported here: the benchmark's query templates import the reasoning engine
    from frs_ros.benchmark.generator import generate_sample

    return tuple(
        generate_sample(FEW_SHOT_SPLIT, i, category, level, negative, seed=FEW_SHOT_SEED)
        for i, (category, level, negative) in enumerate(FEW_SHOT_CELLS[:k])
    )
