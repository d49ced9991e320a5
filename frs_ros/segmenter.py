"""The one path a query takes: frames → digital twin → reasoner → answer masks.

:class:`ReasoningSegmenter` owns the perception pipeline, the bounded twin window, the LLM
runtime (loaded once; its prompt cache lives as long as the segmenter), the conversation
state that follow-up queries read and the answer being tracked onto new frames. The
``frs`` command line, the ROS 2 nodes, ``frs eval`` and the Python API are thin callers::

    from frs_ros.segmenter import ReasoningSegmenter
    seg = ReasoningSegmenter.from_config(models="default", reasoner="default")
    for frame in iter_frames("clip.mp4"):
        seg.observe(frame)
    result = seg.ask("the mug left of the kettle", track=True)
    result.ids, result.outcome, result.masks.latest, result.overlay(frame.rgb)
    seg.ask("the one to its right", follow_up=True, track=True)
    seg.tracked()        # a TrackingUpdate: the tracked answer on the newest twin
    seg.reset()          # a new stream and a new conversation

``seg.extra_labels`` (also the ROS ``extra_labels`` parameter, settable while running) adds
labels to what perception looks for; a label not looked for yet makes the next frame a
keyframe (query-driven detection).

Either half may be absent: the ROS perception node holds a segmenter without a reasoner
(``runtime=None``), the reasoner node one without perception that is given twins
(:meth:`set_twin`); evaluation passes each sample's twin to :meth:`ask`.

Threads: frames may arrive while a query is reasoned about. The twin is swapped under a
short lock, perception is serialised by its own lock and reasoning by another (one LLM
runtime, one cache), so a slow query never blocks the stream.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from frs_ros.reasoning import (
    AnswerMasks,
    Reasoner,
    ReasonerConfig,
    ReasoningResult,
    answer_masks,
    validate_query,
)
from frs_ros.reasoning.engine import NO_TWIN_YET
from frs_ros.twin import FrameTwin, Twin
from frs_ros.twin.aggregator import TwinAggregator
from frs_ros.visualization import overlay_objects

if TYPE_CHECKING:
    from frs_ros.io.frames import Frame
    from frs_ros.perception import PerceptionPipeline
    from frs_ros.perception.config import PerceptionConfig
    from frs_ros.perception.models import ModelProfile
    from frs_ros.reasoning.runtime.base import LLMRuntime


class QueryError(ValueError):
    """A query the segmenter refuses before reasoning: empty, oversized, bad characters,
    out-of-range options, or no twin to reason about. Callers report it and keep serving."""


@dataclass(kw_only=True)
class SegmentationBase:
    """What an answer and a tracking update share: the query's objects on one twin.

    ``ids`` are answered objects present in ``twin``; ``masks`` has a union and per-object
    masks for every frame of ``twin``. ``reasoning`` and ``unknown_ids`` are empty, and
    :attr:`timings` is empty, for a tracking update."""

    query: str
    ids: list[int]
    outcome: str
    twin: Twin
    masks: AnswerMasks
    reasoning: str = ""
    unknown_ids: list[int] = field(default_factory=list)
    query_id: str = ""

    @property
    def empty(self) -> bool:
        return not self.ids

    @property
    def timings(self) -> dict[str, float]:
        """The reasoner's timings (none for a tracking update)."""
        return {}

    @property
    def caption(self) -> str:
        """One line saying what was asked and what came of it: query, outcome, ids."""
        return f'"{self.query}" -> {self.outcome}, ids {self.ids}'

    def overlay(
        self, rgb: np.ndarray, frame_index: int | None = None, *, caption: bool = False
    ) -> np.ndarray:
        """``rgb`` with the answered objects of one frame drawn: the frame twin with index
        ``frame_index`` (the newest when None); the image unchanged if it has none.
        ``caption``: :attr:`caption` written along the bottom too."""
        frame: FrameTwin | None
        if frame_index is None:
            frame = self.twin.latest
        else:
            frame = next((f for f in self.twin.frames if f.index == frame_index), None)
        return overlay_objects(rgb, frame, set(self.ids), self.caption if caption else "")


@dataclass(kw_only=True)
class Segmentation(SegmentationBase):
    """One answer of :meth:`ReasoningSegmenter.ask` (``outcome`` from the reasoner);
    ``result`` keeps the transcript, rounds, tokens and the reasoner's timings."""

    result: ReasoningResult

    @property
    def timings(self) -> dict[str, float]:
        return dict(self.result.timings)


@dataclass(kw_only=True)
class TrackingUpdate(SegmentationBase):
    """The tracked answer on a newer twin, from :meth:`ReasoningSegmenter.tracked`
    (outcome ``tracking``; no reasoning happened, so there is no result)."""

    outcome: str = "tracking"


@dataclass
class _Tracking:
    query: str
    query_id: str
    ids: list[int]


def load_perception(
    models: str | os.PathLike[str] | ModelProfile = "default",
    perception: str | os.PathLike[str] | Mapping[str, Any] | PerceptionConfig | None = None,
    *,
    device: str | None = None,
) -> PerceptionPipeline:
    """The perception pipeline of :meth:`ReasoningSegmenter.from_config` (and of the ROS
    perception nodes): ``models`` is a perception profile (``default``, ``cpu``, ``tiny`` or a
    YAML path), ``perception`` a perception config (None: the one the profile names) and
    ``device`` overrides the profile's device when set."""
    import dataclasses

    from frs_ros.perception import PerceptionPipeline, load_profile

    profile = load_profile(models)
    if device:
        profile = dataclasses.replace(profile, device=device)
    if isinstance(perception, Mapping):  # from_profile takes a plain dict
        perception = dict(perception)
    return PerceptionPipeline.from_profile(profile, perception)


class ReasoningSegmenter:
    """Observe frames, ask queries, get masks (see the module docstring)."""

    def __init__(
        self,
        pipeline: PerceptionPipeline | None = None,
        runtime: LLMRuntime | None = None,
        config: ReasonerConfig | None = None,
        *,
        window: int = 8,
        extra_labels: Sequence[str] = (),
    ) -> None:
        self.pipeline = pipeline
        self.config = config or ReasonerConfig()
        self.reasoner = Reasoner(runtime, self.config) if runtime is not None else None
        # labels added to the detector's vocabulary; reassign at any time (read per frame)
        self.extra_labels = [str(label) for label in extra_labels]
        self.aggregator = TwinAggregator(window=window)
        self._state_lock = threading.Lock()  # twin, previous answer, tracking
        self._perceive_lock = threading.Lock()  # pipeline + aggregator (one stream)
        self._reason_lock = threading.Lock()  # the runtime (one model, one cache)
        self._twin: Twin | None = None
        self._previous: ReasoningResult | None = None
        self._tracking: _Tracking | None = None

    @classmethod
    def from_config(
        cls,
        models: str | os.PathLike[str] | ModelProfile | None = "default",
        reasoner: str | os.PathLike[str] | Mapping[str, Any] | None = "default",
        config: ReasonerConfig | None = None,
        *,
        perception: str | os.PathLike[str] | Mapping[str, Any] | PerceptionConfig | None = None,
        device: str | None = None,
        window: int = 8,
        extra_labels: Sequence[str] = (),
    ) -> ReasoningSegmenter:
        """Load the models: ``models`` is a perception profile (``default``, ``cpu``,
        ``tiny`` or a YAML path; None: no perception), ``reasoner`` a reasoner config
        (``default``, ``cpu``, ``tiny``, ``openai``, a YAML path or a mapping; None: no
        LLM). ``device`` overrides both configs' device (``cuda:0``...)."""
        pipeline = None
        if models is not None:
            pipeline = load_perception(models, perception, device=device)
        runtime = None
        if reasoner is not None:
            from frs_ros.reasoning.runtime import load_runtime

            runtime = load_runtime(reasoner, device=device)
        return cls(pipeline, runtime, config, window=window, extra_labels=extra_labels)

    # ------------------------------------------------------------------ the twin

    @property
    def twin(self) -> Twin | None:
        """The twin queries are answered on: the observed window, or the one last set."""
        with self._state_lock:
            return self._twin

    def observe(self, frame: Frame) -> Twin | None:
        """Perceive one frame and add it to the window; returns the new twin, or None when
        the frame arrived out of order and was dropped. Bad frames raise ValueError."""
        if self.pipeline is None:
            raise RuntimeError("this segmenter has no perception pipeline: use set_twin()")
        with self._perceive_lock:
            frame_twin = self.pipeline.process(frame, self.extra_labels)
            if not self.aggregator.push(frame_twin):
                return None
            twin = self.aggregator.twin()
        self.set_twin(twin)
        return twin

    def set_twin(self, twin: Twin) -> None:
        """Reason over ``twin`` from now on (a twin perceived elsewhere, or loaded)."""
        with self._state_lock:
            self._twin = twin

    # ------------------------------------------------------------------ queries

    def ask(
        self,
        query: str,
        *,
        follow_up: bool = False,
        track: bool = False,
        twin: Twin | None = None,
        query_id: str = "",
        max_rounds: float | None = None,
        max_new_tokens: float | None = None,
        timeout_s: float | None = None,
    ) -> Segmentation:
        """Answer ``query`` on the current twin (or on ``twin``). ``follow_up``: the model
        sees the previous answer (tools accept ``"prev"``); ``track``: :meth:`tracked`
        follows the answered objects onto new frames. Every query decides what is tracked:
        one asked without ``track`` stops tracking the previous answer, so that what is
        tracked is never older than the last answer. The bounds override the config's for
        this query (None or 0 keeps them). Refused queries raise :class:`QueryError`; a
        failing model or server raises its own error."""
        if self.reasoner is None:
            raise RuntimeError("this segmenter has no reasoner: build it with a runtime")
        try:
            config = self.config.with_query_options(
                max_rounds=max_rounds, max_new_tokens=max_new_tokens, timeout_s=timeout_s
            )
        except ValueError as exc:
            raise QueryError(f"invalid query option: {exc}") from None
        try:
            query = validate_query(query, config.max_query_chars)
        except ValueError as exc:
            raise QueryError(str(exc)) from None
        with self._state_lock:
            twin = twin if twin is not None else self._twin
            previous = self._previous if follow_up else None
        if twin is None or not twin.frames:
            raise QueryError(f"{NO_TWIN_YET}: the twin is empty (is the camera publishing?)")
        with self._reason_lock:
            result = self.reasoner.answer(twin, query, previous, config)
        with self._state_lock:
            self._previous = result
            self._tracking = _Tracking(query, query_id, list(result.ids)) if track else None
        return Segmentation(
            query=query,
            ids=result.ids,
            outcome=result.outcome,
            twin=twin,
            masks=answer_masks(twin, result.ids),
            reasoning=result.reasoning,
            unknown_ids=result.unknown_ids,
            query_id=query_id,
            result=result,
        )

    def tracked(self) -> TrackingUpdate | None:
        """The tracked answer on the current twin (outcome ``tracking``; ``ids`` are the
        answered objects seen in its newest frame), or None when nothing is tracked."""
        with self._state_lock:
            twin, tracking = self._twin, self._tracking
        if tracking is None or twin is None or not twin.frames:
            return None
        masks = answer_masks(twin, tracking.ids)
        return TrackingUpdate(
            query=tracking.query,
            ids=[i for i in tracking.ids if i in masks.latest.instances],
            twin=twin,
            masks=masks,
            query_id=tracking.query_id,
        )

    # ------------------------------------------------------------------ resets

    def reset_stream(self) -> None:
        """Start a new stream: track ids, frame indices and the window start over (waits
        for a frame in progress). The twin queries see stays until the next frame."""
        with self._perceive_lock:
            if self.pipeline is not None:
                self.pipeline.reset()
            self.aggregator.clear()

    def reset_conversation(self) -> None:
        """Forget the previous answer (follow-ups) and stop tracking."""
        with self._state_lock:
            self._previous = None
            self._tracking = None

    def reset(self) -> None:
        """A new stream and a new conversation, with no twin."""
        self.reset_stream()
        self.reset_conversation()
        with self._state_lock:
            self._twin = None
