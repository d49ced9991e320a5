"""The engine through a real (tiny, random-weight) Qwen3: nothing crashes end to end."""

import warnings

import pytest

from frs_ros.reasoning import Reasoner, ReasonerConfig, answer_masks
from frs_ros.reasoning.runtime.hf import HFRuntime
from frs_ros.twin.synthetic import random_twin


@pytest.fixture(scope="module")
def runtime():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the MEANINGLESS warning is the point of tiny
        return HFRuntime.tiny()


def test_tiny_qwen3_end_to_end(runtime):
    twin = random_twin(5, 2, size=(48, 64), seed=4)
    reasoner = Reasoner(runtime, ReasonerConfig(max_rounds=2, max_new_tokens=40))
    result = reasoner.answer(twin, "the mug nearest the camera")
    assert result.outcome in {"answered", "empty", "unparseable", "max_rounds", "max_tokens"}
    assert 0 < result.n_tokens <= 40
    assert result.transcript.text.startswith(reasoner.prompt(twin, "the mug nearest the camera"))
    assert set(result.ids) <= set(twin.ids)
    masks = answer_masks(twin, result.ids)
    assert len(masks.frames) == 2
    # a second query on the same twin is answered from the reused prefix, same contract
    again = reasoner.answer(twin, "the mug nearest the camera")
    assert again.transcript.rollout == result.transcript.rollout  # greedy: deterministic
