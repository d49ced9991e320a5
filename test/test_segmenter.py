"""ReasoningSegmenter: the one path a query takes (frames → twin → reasoner → masks)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from frs_ros.io.frames import Frame
from frs_ros.reasoning import ReasonerConfig
from frs_ros.reasoning.runtime import ScriptedRuntime
from frs_ros.segmenter import QueryError, ReasoningSegmenter
from frs_ros.twin import Twin
from frs_ros.twin.synthetic import random_twin
from frs_ros.visualization import color_for

SCENE = random_twin(4, n_frames=3, size=(60, 80), seed=3)


class ReplayPipeline:
    """Perception that returns the frames of SCENE in turn (and counts resets)."""

    def __init__(self) -> None:
        self.next, self.resets, self.labels = 0, 0, []

    def process(self, frame: Frame, extra_labels=()):
        self.labels.append(list(extra_labels))
        if frame.rgb.size == 0:
            raise ValueError("empty image")
        out = SCENE.frames[self.next % len(SCENE.frames)]
        self.next += 1
        return out

    def reset(self) -> None:
        self.next, self.resets = 0, self.resets + 1


def frame(i: int = 0) -> Frame:
    return Frame(i, i / 10, np.zeros((60, 80, 3), np.uint8))


def answer(*ids: int) -> str:
    return f'<reason>r</reason><answer>{{"ids": {list(ids)}}}</answer>'


def segmenter(*outputs: str, window: int = 8, **config) -> ReasoningSegmenter:
    runtime = ScriptedRuntime(list(outputs))
    cfg = ReasonerConfig(**config)
    return ReasoningSegmenter(ReplayPipeline(), runtime, cfg, window=window, extra_labels=["mug"])


def test_observe_builds_a_bounded_window_and_ask_answers_with_masks_per_frame():
    seg = segmenter(answer(1, 99), window=2)
    for i in range(3):
        twin = seg.observe(frame(i))
    assert [f.index for f in twin.frames] == [1, 2]  # window of 2: the oldest frame left
    assert seg.pipeline.labels == [["mug"]] * 3  # the stream's extra labels reach perception
    result = seg.ask("  the mug  ")
    assert result.query == "the mug"
    assert (result.outcome, result.ids, result.unknown_ids) == ("answered", [1], [99])
    assert [m.index for m in result.masks.frames] == [1, 2]
    expected = SCENE.frames[2].object(1).decode_mask()
    assert np.array_equal(result.masks.latest.union_array(), expected)
    overlay = result.overlay(np.zeros((60, 80, 3), np.uint8))
    ys, xs = np.nonzero(expected)
    label_box = np.zeros_like(expected)  # the "1:label" tag is drawn at the top-left corner
    label_box[ys.min() : ys.min() + 12, xs.min() : xs.min() + 60] = True
    assert np.all(overlay[expected & ~label_box] == (np.array(color_for(1)) + 1) // 2)
    assert not overlay[~expected & ~label_box].any()  # objects 2-4 are not drawn
    assert result.timings["total_s"] >= 0 and result.result.transcript.rollout


def test_follow_up_sees_the_previous_answer_and_a_new_query_does_not():
    seg = segmenter(answer(2), answer(3), answer(4))
    seg.set_twin(SCENE)
    seg.ask("the bowl")
    seg.ask("the one left of it", follow_up=True)
    seg.ask("a new question")
    prompts = [call.text for call in seg.reasoner.runtime.calls]
    assert 'Previous query: "the bowl" -> answer ids [2]' in prompts[1]
    assert "Previous query" not in prompts[2]
    # one reasoner, one system prompt and twin: every query shares the cached prefix
    prefix = prompts[0][: prompts[0].index("Query: the bowl")]
    assert all(p.startswith(prefix) for p in prompts)


def test_tracking_follows_the_answer_onto_new_frames_until_reset():
    seg = segmenter(answer(1, 2))
    seg.observe(frame(0))
    assert seg.tracked() is None
    seg.ask("two things", track=True, query_id="q7")
    one_object_frame = Twin(
        [SCENE.frames[1].__class__(5, 0.5, 80, 60, [SCENE.frames[1].object(2)])]
    )
    seg.set_twin(one_object_frame)
    tracked = seg.tracked()
    assert (tracked.outcome, tracked.query_id, tracked.query) == ("tracking", "q7", "two things")
    assert tracked.ids == [2]  # object 1 is not in the newest frame
    seg.reset_conversation()
    assert seg.tracked() is None


def test_refused_queries_raise_query_error_and_the_segmenter_keeps_serving():
    seg = segmenter(answer(1), max_query_chars=20)
    with pytest.raises(QueryError, match="no frame received yet"):
        seg.ask("the mug")
    seg.observe(frame())
    with pytest.raises(QueryError, match="empty"):
        seg.ask("   ")
    with pytest.raises(QueryError, match="at most 20"):
        seg.ask("x" * 21)
    with pytest.raises(QueryError, match="invalid query option: max_rounds"):
        seg.ask("the mug", max_rounds=10**6)
    with pytest.raises(QueryError, match="control character"):
        seg.ask("the \x1b[31mmug")
    assert seg.ask("the mug").ids == [1]  # nothing was consumed by the refusals


def test_query_bounds_apply_to_one_query_only():
    plan = '<reason>r</reason><plan>[{"tool": "find", "args": {"label": "mug"}}]</plan>'
    seg = segmenter(plan, plan, plan, answer(2), max_rounds=4)
    seg.set_twin(SCENE)
    assert seg.ask("the mug", max_rounds=1).outcome == "max_rounds"
    assert seg.config.max_rounds == 4
    result = seg.ask("the mug")
    assert (result.outcome, result.result.rounds, result.ids) == ("answered", 1, [2])


def test_a_slow_query_does_not_block_the_stream():
    """Perception runs while the reasoner is inside the model (deterministic: events)."""
    entered, release = threading.Event(), threading.Event()

    class BlockingRuntime(ScriptedRuntime):
        def complete(self, *args, **kwargs):
            entered.set()
            assert release.wait(30), "the test never released the model"
            return super().complete(*args, **kwargs)

    seg = ReasoningSegmenter(ReplayPipeline(), BlockingRuntime([answer(1)]))
    seg.observe(frame(0))
    results = []
    worker = threading.Thread(target=lambda: results.append(seg.ask("the mug")))
    worker.start()
    assert entered.wait(30)
    twin = seg.observe(frame(1))  # returns while the query is still in the model
    assert len(twin) == 2 and not results
    release.set()
    worker.join(30)
    assert results[0].twin is not twin and len(results[0].twin) == 1  # answered on its twin


def test_reset_starts_a_new_stream_and_forgets_the_twin():
    seg = segmenter(answer(1))
    seg.observe(frame(0))
    seg.observe(frame(1))
    seg.reset_stream()
    assert seg.pipeline.resets == 1 and seg.twin is not None  # queries still see a twin
    assert [f.index for f in seg.observe(frame(0)).frames] == [0]  # the window restarted
    seg.reset()
    assert seg.twin is None


def test_half_segmenters_say_what_they_lack():
    with pytest.raises(RuntimeError, match="no reasoner"):
        ReasoningSegmenter(ReplayPipeline()).ask("the mug")
    with pytest.raises(RuntimeError, match="no perception"):
        ReasoningSegmenter(runtime=ScriptedRuntime([])).observe(frame())


@pytest.mark.slow
def test_from_config_loads_the_tiny_models_and_answers_end_to_end():
    seg = ReasoningSegmenter.from_config("tiny", "tiny", ReasonerConfig(max_new_tokens=8))
    rgb = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    twin = seg.observe(Frame(0, 0.0, rgb))
    assert len(twin) == 1 and twin.latest.width == 64
    result = seg.ask("the mug")  # a random model never closes <answer> in 8 tokens
    assert (result.outcome, result.result.n_tokens) == ("max_tokens", 8)


@pytest.mark.slow
def test_the_python_api_example_runs_as_a_user_would(tmp_path):
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "examples/python_api.py", "--out", str(tmp_path)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "twin: 6 frames" in proc.stdout and "tracked: ids=" in proc.stdout
    assert Image.open(tmp_path / "overlay.png").size == (160, 120)


def test_extra_labels_can_change_between_frames():
    seg = segmenter(answer(1))
    seg.observe(frame(0))
    seg.extra_labels = ["kettle", "red mug"]  # e.g. a query planner's nouns
    seg.observe(frame(1))
    assert seg.pipeline.labels == [["mug"], ["kettle", "red mug"]]
