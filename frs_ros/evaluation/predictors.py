"""What the harness evaluates: anything that maps (sample, twin) to answer ids.

- :class:`OraclePredictor` replays the sample's oracle chain through a ``ScriptedRuntime``
  and the *real* rollout engine; the engine re-runs every plan with the real tools, so a
  chain whose ``<results>`` no longer match the tools is caught (``chain_ok``).
- :class:`RandomPredictor` / :class:`LargestPredictor`: the floor any reasoner must beat.
- :class:`ReasonerPredictor`: any LLM runtime (HF, OpenAI-compatible, …) + the engine.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from frs_ros.reasoning import ReasonerConfig
from frs_ros.reasoning.runtime.base import LLMRuntime
from frs_ros.replay import replay
from frs_ros.samples import Sample
from frs_ros.segmenter import ReasoningSegmenter
from frs_ros.twin import Twin


@dataclass
class Prediction:
    ids: list[int]
    outcome: str = "answered"
    n_tokens: int = 0
    rounds: int = 0
    chain_ok: bool | None = None  # oracle only: the engine reproduced the chain exactly
    rollout: str = ""  # what the model wrote and the engine appended, to read failures
    extra: dict[str, Any] = field(default_factory=dict)


class Predictor(Protocol):
    name: str
    #: whether the predictor refers to ground-truth ids (cannot run on a perceived twin)
    needs_gt_twin: bool

    def predict(self, sample: Sample, twin: Twin) -> Prediction: ...


class OraclePredictor:
    name = "oracle"
    needs_gt_twin = True

    def predict(self, sample: Sample, twin: Twin) -> Prediction:
        if not sample.chain:
            raise ValueError(f"sample {sample.id} has no oracle chain")
        result = replay(twin, sample.query, sample.chain)
        return Prediction(
            ids=result.ids,
            outcome=result.outcome,
            n_tokens=result.n_tokens,
            rounds=result.rounds,
            chain_ok=result.transcript.rollout == sample.chain,
            rollout=result.transcript.rollout,
        )


class RandomPredictor:
    """One uniformly random object id (never empty): what guessing scores."""

    name = "random"
    needs_gt_twin = False

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def predict(self, sample: Sample, twin: Twin) -> Prediction:
        ids = twin.ids
        if not ids:
            return Prediction([], "empty")
        rng = np.random.default_rng([self.seed, zlib.crc32(sample.id.encode())])
        return Prediction([int(rng.choice(ids))])


class LargestPredictor:
    """The largest object of the latest frame (a salient-object prior)."""

    name = "largest"
    needs_gt_twin = False

    def predict(self, sample: Sample, twin: Twin) -> Prediction:
        objects = twin.latest.objects
        if not objects:
            return Prediction([], "empty")
        return Prediction([max(objects, key=lambda o: (o.area, -o.id)).id])


class ReasonerPredictor:
    """An LLM runtime answering through :class:`ReasoningSegmenter`, as a deployment does."""

    needs_gt_twin = False

    def __init__(self, runtime: LLMRuntime, config: ReasonerConfig, name: str = "reasoner"):
        self.runtime = runtime
        self.segmenter = ReasoningSegmenter(runtime=runtime, config=config)
        self.name = name

    def predict(self, sample: Sample, twin: Twin) -> Prediction:
        answer = self.segmenter.ask(sample.query, twin=twin)
        result = answer.result
        return Prediction(
            ids=answer.ids,
            outcome=answer.outcome,
            n_tokens=result.n_tokens,
            rounds=result.rounds,
            rollout=result.transcript.rollout,
            extra={"unknown_ids": answer.unknown_ids},
        )


def count_parameters(obj: Any, depth: int = 3) -> int:
    """Parameters of every torch module reachable from ``obj`` through attributes.

    Walks attributes instead of asking each runtime/core for a count because they are
    written by different engineers and expose their models under different names.
    """
    seen: set[int] = set()
    total = 0

    def walk(o: Any, d: int) -> None:
        nonlocal total
        if id(o) in seen or d < 0 or isinstance(o, str | bytes | int | float | np.ndarray):
            return
        seen.add(id(o))
        params = getattr(o, "parameters", None)
        if callable(params) and hasattr(o, "named_modules"):  # a torch.nn.Module
            total += sum(p.numel() for p in params())
            return
        if isinstance(o, dict):
            children = list(o.values())
        elif isinstance(o, list | tuple):
            children = list(o)
        else:
            children = list(getattr(o, "__dict__", {}).values())
        for c in children:
            walk(c, d - 1)

    walk(obj, depth)
    return total
