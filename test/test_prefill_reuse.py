"""Never prefill the same thing twice: across `frs eval` samples (one runtime, one KV
cache) the system prompt is prefilled by the first sample only, counted in tokens fed to
the model (the KV-cache runtimes' ``timing.prefill_tokens``)."""

from __future__ import annotations

import warnings

import pytest

from frs_ros.benchmark import generate_split
from frs_ros.evaluation import evaluate
from frs_ros.evaluation.predictors import ReasonerPredictor
from frs_ros.reasoning import ReasonerConfig
from frs_ros.reasoning.prompt import system_prompt
from frs_ros.reasoning.runtime.hf import HFRuntime

pytestmark = pytest.mark.slow  # module fixtures build models or export graphs


class CountingPredictor(ReasonerPredictor):
    """Records the tokens each sample prefilled."""

    def __init__(self, runtime: HFRuntime, config: ReasonerConfig) -> None:
        super().__init__(runtime, config, name="counting")
        self.prefilled: list[int] = []

    def predict(self, sample, twin):
        before = self.runtime.timing.prefill_tokens
        out = super().predict(sample, twin)
        self.prefilled.append(self.runtime.timing.prefill_tokens - before)
        return out


def _run(tmp_path, reuse: bool) -> tuple[list[int], HFRuntime]:
    samples = generate_split("test", 1, seed=3, negative_fraction=0.0, progress=False)[:4]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runtime = HFRuntime.tiny(reuse_cache=reuse)
    predictor = CountingPredictor(runtime, ReasonerConfig(max_new_tokens=6, max_rounds=1))
    evaluate(samples, predictor, tmp_path / str(reuse), progress=False, chart=False, bootstrap=0)
    return predictor.prefilled, runtime


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval")
    return _run(tmp, True), _run(tmp, False)


def test_system_prompt_is_prefilled_once_across_samples(runs) -> None:
    (warm, runtime), (cold, _) = runs
    system = runtime.count_tokens(system_prompt())
    assert system > 300
    assert warm[0] == cold[0] > system  # the first sample prefills everything
    for w, c in zip(warm[1:], cold[1:], strict=True):
        # later samples skip at least the system prompt (and the chat header before it)
        assert w <= c - system, (warm, cold)
