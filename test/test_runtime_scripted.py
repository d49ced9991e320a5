"""ScriptedRuntime semantics, the shared request checks and the runtime factory."""

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frs_ros.reasoning.runtime import (
    Completion,
    LLMRuntime,
    ScriptedRuntime,
    ScriptExhaustedError,
    chatml_prompt,
    load_runtime,
    simple_tokenize,
)
from frs_ros.reasoning.runtime.base import cut_at_stop


def test_is_an_llm_runtime_and_records_calls():
    rt = ScriptedRuntime(["<reason>r</reason><plan>[]</plan> extra"])
    assert isinstance(rt, LLMRuntime)
    c = rt.complete("PROMPT", stop=["</plan>"], max_new_tokens=50, deadline=None)
    assert c == Completion("<reason>r</reason><plan>[]</plan>", c.n_tokens, "stop")
    assert c.n_tokens == len(simple_tokenize(c.text))
    assert rt.calls[0].text == "PROMPT" and rt.calls[0].stop == ("</plan>",)
    assert rt.remaining == 0


def test_first_completed_stop_wins():
    rt = ScriptedRuntime(["aa </answer> bb </plan>", "x </plan> </answer>"])
    assert rt.complete("", stop=["</plan>", "</answer>"], max_new_tokens=99).text == "aa </answer>"
    assert rt.complete("", stop=["</answer>", "</plan>"], max_new_tokens=99).text == "x </plan>"


def test_end_of_script_entry_is_end_of_sequence():
    c = ScriptedRuntime(["no stop here"]).complete("", stop=["</plan>"], max_new_tokens=99)
    assert (c.text, c.n_tokens, c.finish_reason) == ("no stop here", 5, "stop")


def test_length_beats_a_later_stop():
    c = ScriptedRuntime(["one two three </plan>"]).complete("", stop=["</plan>"], max_new_tokens=3)
    assert (c.text, c.n_tokens, c.finish_reason) == ("one two", 3, "length")


def test_exact_token_budget_still_stops():
    # pieces: "a", " ", "<", "/", "plan", ">"
    rt = ScriptedRuntime(["a </plan>", "a </plan>"])
    assert rt.complete("", stop=["</plan>"], max_new_tokens=6) == Completion("a </plan>", 6, "stop")
    assert rt.complete("", stop=["</plan>"], max_new_tokens=5) == Completion(
        "a </plan", 5, "length"
    )


def test_past_deadline_consumes_the_entry():
    rt = ScriptedRuntime(["first", "second"])
    c = rt.complete("", stop=[], max_new_tokens=9, deadline=time.monotonic() - 1)
    assert c == Completion("", 0, "deadline")
    assert rt.complete("", stop=[], max_new_tokens=9).text == "second"


def test_supplied_tokenizer_counts_and_cuts():
    chars = list  # one token per character
    rt = ScriptedRuntime(["abcdef", "abc"], tokenize=chars)
    assert rt.complete("", stop=[], max_new_tokens=4) == Completion("abcd", 4, "length")
    assert rt.complete("", stop=[], max_new_tokens=4) == Completion("abc", 3, "stop")
    bad = ScriptedRuntime(["a b"], tokenize=lambda s: s.split())
    with pytest.raises(ValueError, match="join"):
        bad.complete("", stop=[], max_new_tokens=4)


def test_bad_requests_and_exhaustion():
    rt = ScriptedRuntime(["x"])
    with pytest.raises(TypeError, match="single string"):
        rt.complete("", stop="</plan>", max_new_tokens=4)
    with pytest.raises(ValueError, match="non-empty"):
        rt.complete("", stop=[""], max_new_tokens=4)
    with pytest.raises(ValueError, match=">= 1"):
        rt.complete("", stop=[], max_new_tokens=0)
    rt.complete("", stop=[], max_new_tokens=4)
    with pytest.raises(ScriptExhaustedError):
        rt.complete("", stop=[], max_new_tokens=4)
    with pytest.raises(TypeError):
        ScriptedRuntime([1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="finish_reason"):
        Completion("", 0, "eos")  # type: ignore[arg-type]


def test_chatml_prompt_thinking():
    on = chatml_prompt("S", "U", thinking=True)
    assert on == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n" + (
        "<|im_start|>assistant\n"
    )
    assert chatml_prompt("S", "U") == on + "<think>\n\n</think>\n\n"
    assert ScriptedRuntime([]).format_prompt("S", "U") == chatml_prompt("S", "U")


@given(st.text(max_size=60), st.lists(st.text(min_size=1, max_size=4), max_size=3))
def test_cut_at_stop_properties(text, stops):
    out, hit = cut_at_stop(text, stops)
    assert text.startswith(out)
    if hit:
        assert any(out.endswith(s) for s in stops)
        # no stop string is complete any earlier
        assert not any(s in out[:-1] for s in stops)
    else:
        assert out == text and not any(s in text for s in stops)


@given(st.text(max_size=80), st.integers(1, 30))
def test_scripted_length_cut_is_a_token_prefix(text, budget):
    c = ScriptedRuntime([text]).complete("", stop=[], max_new_tokens=budget)
    pieces = simple_tokenize(text)
    assert "".join(pieces) == text
    assert c.text == "".join(pieces[:budget])
    assert c.finish_reason == ("length" if len(pieces) > budget else "stop")


def test_factory_kinds_and_errors(tmp_path):
    rt = load_runtime({"runtime": {"kind": "scripted", "outputs": ["hi"], "thinking": True}})
    assert isinstance(rt, ScriptedRuntime) and rt.thinking and rt.remaining == 1
    path = tmp_path / "r.yaml"
    path.write_text("runtime:\n  kind: openai\n  model: m\n  endpoint: {url: 'http://h:1/v1'}\n")
    assert type(load_runtime(path)).__name__ == "OpenAIRuntime"
    with pytest.raises(ValueError, match="kind"):
        load_runtime({"kind": "llamafile"})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['modle'\] in runtime"):
        load_runtime({"kind": "hf", "modle": "x"})
    with pytest.raises(ValueError, match=r"endpoint\.url"):
        load_runtime({"kind": "openai", "model": "m"})
    with pytest.raises(ValueError, match="top_p"):
        load_runtime(
            {
                "kind": "openai",
                "model": "m",
                "sampling": {"top_p": 0},
                "endpoint": {"url": "http://h/v1"},
            }
        )
    with pytest.raises(FileNotFoundError):
        load_runtime(tmp_path / "missing.yaml")
