"""The engine through a real (tiny, random-weight) Qwen3, forced along a scripted chain.

A random model's rollout ends in whichever outcome its weights happen to produce, so a test
of it can only accept them all. Here the real model runs every forward pass through the HF
runtime (KV cache, prefix reuse, stop strings, end-of-sequence), but a large bias on the
logit of the script's next token makes its greedy choice follow a known chain: one ``find``
round, then an answer. So the outcome, the ids, the engine's ``<results>`` and the cache
reuse are all known and asserted exactly.
"""

import json
import warnings

import numpy as np
import pytest
import torch

from frs_ros.reasoning import Reasoner, ReasonerConfig, answer_masks
from frs_ros.reasoning.runtime.hf import HFRuntime
from frs_ros.twin import rle as rle_utils
from frs_ros.twin.synthetic import random_twin

QUERY = "the mug nearest the camera"


class ScriptedQwen3(HFRuntime):
    """``HFRuntime`` whose greedy choice is pushed onto ``turns``: one scripted text per
    ``complete`` call, in order. Prefill sizes are recorded per call."""

    BIAS = 1e4  # far above any logit of a random 2-layer model

    def script(self, turns: list[str]) -> None:
        self.turns = list(turns)
        self.prefills: list[int] = []
        self._turn = ""
        self._written: str | None = None

    def complete(self, text, **kwargs):
        self._turn, self._written = self.turns.pop(0), None
        completion = super().complete(text, **kwargs)
        self.prefills.append(self.last_prefill_tokens)
        return completion

    def _forward(self, ids: list[int], rows: int = 1) -> torch.Tensor:
        assert rows == 1, "no drafts in this test"
        logits = super()._forward(ids).clone()
        if self._written is None:  # the prefill: this turn starts now
            self._written = ""
        else:  # the token the loop chose and fed back
            self._written += self._decode(ids)
        assert self._turn.startswith(self._written), (self._turn, self._written)
        rest = self._turn[len(self._written) :]
        # every turn ends in a stop string: the runtime must return before asking for more
        assert rest, f"generation went on past the stop string ending {self._turn!r}"
        logits[0, self.encode(rest)[0]] += self.BIAS
        return logits


@pytest.fixture(scope="module")
def runtime() -> ScriptedQwen3:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the MEANINGLESS warning is the point of tiny
        return ScriptedQwen3.tiny()


@pytest.mark.slow
def test_tiny_qwen3_follows_a_tool_round_to_a_known_answer(runtime):
    twin = random_twin(5, 2, size=(48, 64), seed=4)
    target = twin.latest.objects[0]
    plan = json.dumps([{"tool": "find", "args": {"label": target.label}}])
    turns = [
        f"<reason>look for the {target.label}</reason><plan>{plan}</plan>",
        f'<answer>{{"ids": [{target.id}]}}</answer>',
    ]
    reasoner = Reasoner(runtime, ReasonerConfig(max_rounds=2, max_new_tokens=200, timeout_s=300))

    runtime.script(turns)
    result = reasoner.answer(twin, QUERY)

    assert (result.outcome, result.ids, result.unknown_ids) == ("answered", [target.id], [])
    (first, s1), (results, s2), (second, s3) = result.transcript.spans
    assert (first, s1, second, s3) == (turns[0], "model", turns[1], "model")
    assert s2 == "engine" and results.startswith("<results>") and results.endswith("</results>")
    (entry,) = json.loads(results.removeprefix("<results>").removesuffix("</results>"))["results"]
    assert entry["tool"] == "find" and target.id in entry["ok"]
    assert result.transcript.prompt == reasoner.prompt(twin, QUERY)
    assert result.reasoning == f"look for the {target.label}"
    assert 0 < result.n_tokens <= 200
    # the turn after <results> runs only the inserted tokens on top of the cache
    assert runtime.prefills[1] <= runtime.count_tokens(results) + 2
    assert runtime.prefills[1] * 10 < runtime.prefills[0]

    masks = answer_masks(twin, result.ids)
    assert len(masks.frames) == 2
    np.testing.assert_array_equal(
        rle_utils.decode(masks.latest.union), target.decode_mask().astype(bool)
    )

    # a second query on the same twin: the prompt comes from the cache, same chain
    runtime.script(turns)
    again = reasoner.answer(twin, QUERY)
    assert again.transcript.rollout == result.transcript.rollout
    assert runtime.prefills[0] <= 2
