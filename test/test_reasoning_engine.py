"""The rollout engine driven by a scripted model: every protocol path and bound."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frs_ros.reasoning import Reasoner, ReasonerConfig, answer_masks
from frs_ros.reasoning.protocol import check_format
from frs_ros.reasoning.runtime.base import Completion, ScriptedRuntime
from frs_ros.twin import FrameTwin, Twin, TwinObject

H, W = 60, 100


def obj(id, label, x0, x1, depth):
    mask = np.zeros((H, W), bool)
    mask[20:40, x0:x1] = True
    return TwinObject.from_mask(
        id, label, 0.9, mask, depth=np.full((H, W), depth, np.float32), depth_source="metric"
    )


@pytest.fixture
def twin():
    objects = [obj(1, "mug", 5, 20, 1.0), obj(2, "plate", 40, 70, 2.0), obj(3, "mug", 80, 95, 3.0)]
    return Twin([FrameTwin(index=0, stamp=0.0, width=W, height=H, objects=objects)])


def run(twin, *outputs, **cfg):
    rt = ScriptedRuntime(outputs)
    result = Reasoner(rt, ReasonerConfig(**cfg)).answer(twin, "the mug left of the plate")
    return result, rt


def results_of(result, k=0):
    engine = [t for t, s in result.transcript.spans if s == "engine"]
    return json.loads(engine[k][len("<results>") : -len("</results>")])["results"]


def test_no_plan(twin):
    r, rt = run(twin, '<reason>mug 1 is left</reason><answer>{"ids": [1]}</answer>')
    assert (r.outcome, r.ids, r.rounds, r.reasoning) == ("answered", [1], 0, "mug 1 is left")
    assert len(rt.calls) == 1 and rt.calls[0].stop == ("</plan>", "</answer>")
    assert check_format(r.transcript.rollout)
    masks = answer_masks(twin, r.ids)
    assert np.array_equal(masks.latest.union_array(), twin.frames[0].object(1).decode_mask())


def test_one_plan_round(twin):
    plan = '<reason>r</reason><plan>[{"tool": "relation", "args": {"a": 1, "b": 2}}]</plan>'
    r, rt = run(twin, plan, '<answer>{"ids": [1]}</answer>')
    assert r.outcome == "answered" and r.rounds == 1
    assert results_of(r) == [{"tool": "relation", "ok": ["left_of", "nearer"]}]
    # the second call continues the transcript that ends with the inserted results
    assert rt.calls[1].text.endswith("</results>")
    assert [s for _, s in r.transcript.spans] == ["model", "engine", "model"]
    assert check_format(r.transcript.rollout)


def test_two_plan_rounds(twin):
    r, _ = run(
        twin,
        '<reason>r</reason><plan>[{"tool": "find", "args": {"label": "mugs"}}]</plan>',
        '<plan>[{"tool": "depth_order", "args": {"ids": [1, 3]}}]</plan>',
        '<answer>{"ids": [3]}</answer>',
    )
    assert (r.outcome, r.ids, r.rounds) == ("answered", [3], 2)
    assert results_of(r, 0) == [{"tool": "find", "ok": [1, 3]}]
    assert results_of(r, 1) == [{"tool": "depth_order", "ok": [[1, 1.0], [3, 3.0]]}]
    assert len(r.tool_calls) == 2


def test_empty_answer(twin):
    r, _ = run(twin, '<reason>nothing hot here</reason><answer>{"ids": []}</answer>')
    assert r.outcome == "empty" and r.empty and r.ids == []
    masks = answer_masks(twin, r.ids)
    assert masks.empty and not masks.latest.union_array().any()


@pytest.mark.parametrize(
    "body", ['{"ids": [1,', '{"ids": "one"}', "[true]", '{"id": [1]}', "[1.5]"]
)
def test_malformed_answer(twin, body):
    r, _ = run(twin, f"<reason>r</reason><answer>{body}</answer>")
    assert r.outcome == "unparseable" and r.ids == []


def test_unknown_ids_are_reported(twin):
    r, _ = run(twin, '<reason>r</reason><answer>{"ids": [2, 42]}</answer>')
    assert (r.outcome, r.ids, r.unknown_ids) == ("answered", [2], [42])
    assert answer_masks(twin, [2, 42]).unknown_ids == [42]


def test_unknown_tool_is_an_error_entry(twin):
    r, _ = run(
        twin,
        '<reason>r</reason><plan>[{"tool": "rm_rf", "args": {}}]</plan>',
        '<answer>{"ids": [1]}</answer>',
    )
    (entry,) = results_of(r)
    assert entry["tool"] == "rm_rf" and "unknown tool 'rm_rf'" in entry["error"]
    assert r.outcome == "answered"


@pytest.mark.parametrize(
    "args, message",
    [
        ({"a": 1}, "missing argument 'b'"),
        ({"a": 1, "b": 99}, "object 99 is not in the twin"),
        ({"a": "x", "b": 2}, "must be an integer"),
        ({"a": 1, "b": 2, "c": 3}, "unknown argument"),
        ({"a": 1, "b": 1}, "different objects"),
    ],
)
def test_bad_arguments_are_error_entries(twin, args, message):
    plan = json.dumps([{"tool": "relation", "args": args}])
    r, _ = run(twin, f"<reason>r</reason><plan>{plan}</plan>", '<answer>{"ids": []}</answer>')
    (entry,) = results_of(r)
    assert message in entry["error"]


def test_plan_that_is_not_json(twin):
    r, _ = run(twin, "<reason>r</reason><plan>size of 1</plan>", '<answer>{"ids": [1]}</answer>')
    assert "not valid JSON" in results_of(r)[0]["error"]


def test_truncated_generation(twin):
    r, _ = run(twin, "<reason>the mug on the left is " + "very " * 50, max_new_tokens=20)
    assert r.outcome == "max_tokens" and r.n_tokens == 20 and r.ids == []


def test_model_stops_without_answer(twin):
    r, _ = run(twin, "<reason>hmm</reason>")
    assert r.outcome == "unparseable"


def test_round_bound(twin):
    plan = '<plan>[{"tool": "count", "args": {"label": "mug"}}]</plan>'
    r, rt = run(twin, "<reason>r</reason>" + plan, plan, plan, max_rounds=2)
    assert r.outcome == "max_rounds" and r.rounds == 2 and len(rt.calls) == 3
    assert rt.remaining == 0


def test_token_bound_spans_rounds(twin):
    plan = '<reason>r</reason><plan>[{"tool": "count", "args": {"label": "mug"}}]</plan>'
    used = ScriptedRuntime([]).count_tokens(plan)
    r, rt = run(twin, plan, '<answer>{"ids": [1]}</answer>', max_new_tokens=used + 5)
    assert rt.calls[0].max_new_tokens == used + 5
    assert rt.calls[1].max_new_tokens == 5  # the budget is shared by all rounds
    assert r.outcome == "max_tokens" and r.n_tokens == used + 5


def test_deadline_is_an_outcome(twin):
    class Slow:
        def format_prompt(self, system, user):
            return user

        def complete(self, text, *, stop, max_new_tokens, deadline=None):
            return Completion("<reason>still think", 3, "deadline")

    r = Reasoner(Slow()).answer(twin, "anything")
    assert r.outcome == "deadline" and r.ids == []


def test_follow_up_query_uses_previous_answer(twin):
    rt = ScriptedRuntime(
        [
            '<reason>the plate</reason><answer>{"ids": [2]}</answer>',
            '<reason>left of prev</reason><plan>[{"tool": "relation", "args": {"a": 1, "b": '
            '"prev"}}]</plan>',
            '<answer>{"ids": [1]}</answer>',
        ]
    )
    reasoner = Reasoner(rt)
    first = reasoner.answer(twin, "the plate")
    second = reasoner.answer(twin, "the one to its left", previous=first)
    assert 'Previous query: "the plate" -> answer ids [2]' in rt.calls[1].text
    assert results_of(second) == [{"tool": "relation", "ok": ["left_of", "nearer"]}]
    assert second.ids == [1]


def test_queries_on_the_same_twin_share_the_prompt_prefix(twin):
    reasoner = Reasoner(ScriptedRuntime([]))
    a, b = reasoner.prompt(twin, "first query"), reasoner.prompt(twin, "second")
    prefix = a[: a.index("Query:")]
    assert b.startswith(prefix) and '"objs"' in prefix


@pytest.mark.parametrize("query", ["", "   ", "x" * 5000])
def test_bad_queries_are_rejected(twin, query):
    with pytest.raises(ValueError):
        Reasoner(ScriptedRuntime([])).answer(twin, query)


def test_empty_twin_is_rejected():
    with pytest.raises(ValueError, match="no frames"):
        Reasoner(ScriptedRuntime([])).answer(Twin([]), "anything")


def test_results_are_bounded(twin):
    calls = json.dumps([{"tool": "nearest", "args": {"to": "camera"}}] * 8)
    r, _ = run(
        twin,
        f"<reason>r</reason><plan>{calls}</plan>",
        '<answer>{"ids": [1]}</answer>',
        max_results_chars=100,
    )
    assert "results too long" in results_of(r)[0]["error"]


def test_engine_spans_cover_the_results(twin):
    r, _ = run(
        twin,
        '<reason>r</reason><plan>[{"tool": "count", "args": {"label": "mug"}}]</plan>',
        '<answer>{"ids": [1]}</answer>',
    )
    ((start, end),) = r.transcript.engine_char_spans()
    inserted = r.transcript.rollout[start:end]
    assert inserted.startswith("<results>") and inserted.endswith("</results>")


protocol_bits = st.sampled_from(
    [
        "<reason>",
        "</reason>",
        "<plan>",
        "</plan>",
        "<answer>",
        "</answer>",
        "<results>",
        '{"ids": [1]}',
        '[{"tool": "size", "args": {"id": 1}}]',
        '{"tool": 3}',
        "[",
        "]",
        "{",
    ]
)
model_text = st.lists(st.one_of(protocol_bits, st.text(max_size=20)), max_size=12).map("".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(model_text, min_size=1, max_size=6))
def test_fuzz_arbitrary_model_text_never_raises(outputs):
    objects = [obj(1, "mug", 5, 20, 1.0), obj(2, "plate", 40, 70, 2.0)]
    twin = Twin([FrameTwin(index=0, stamp=0.0, width=W, height=H, objects=objects)])
    rt = ScriptedRuntime(outputs + ["</answer>"] * 8)
    r = Reasoner(rt, ReasonerConfig(max_rounds=3, max_new_tokens=400)).answer(twin, "q")
    assert r.outcome in {"answered", "empty", "unparseable", "max_rounds", "max_tokens"}
    assert set(r.ids) <= {1, 2}


def test_brief_prompt_names_every_tool_without_documenting_them(twin):
    from frs_ros.reasoning.prompt import system_prompt
    from frs_ros.reasoning.tools import TOOLS

    full = Reasoner(ScriptedRuntime([]), ReasonerConfig()).prompt(twin, "the mug")
    brief = Reasoner(ScriptedRuntime([]), ReasonerConfig(prompt="brief")).prompt(twin, "the mug")
    tools_line = next(line for line in brief.splitlines() if line.startswith("Tools"))
    assert tools_line.endswith(", ".join(TOOLS.names))
    assert TOOLS["find"].description in full and TOOLS["find"].description not in brief
    assert "Twin keys" in full and "Twin keys" not in brief
    for tag in ("<reason>", "<plan>", "<results>", '<answer>{"ids": [..]}</answer>'):
        assert tag in brief
    assert brief.endswith(full[full.index("Twin: ") :])  # same twin and query after it
    assert len(system_prompt(style="brief")) < len(system_prompt()) / 3


def test_unknown_prompt_style_is_rejected():
    with pytest.raises(ValueError, match="prompt must be one of"):
        ReasonerConfig(prompt="short")
