"""OpenAIRuntime against a scripted local HTTP server on 127.0.0.1 (no network)."""

import time

import numpy as np
import pytest

from frs_ros.reasoning import Reasoner, ReasonerConfig
from frs_ros.reasoning.grammar import protocol_gbnf
from frs_ros.reasoning.protocol import check_format
from frs_ros.reasoning.runtime import Completion, Sampling, chatml_prompt, load_runtime
from frs_ros.reasoning.runtime.base import unclosed_stop
from frs_ros.reasoning.runtime.openai import EndpointError, OpenAIRuntime
from frs_ros.twin import FrameTwin, Twin, TwinObject


def ok(text, finish="stop", **extra):
    choice = {"text": text, "finish_reason": finish, **extra}
    return 200, {"choices": [choice], "usage": {"completion_tokens": 7}}


def runtime(server, **kwargs) -> OpenAIRuntime:
    return OpenAIRuntime(server.url, "qwen", backoff_s=0.0, **kwargs)


def test_request_body_and_stop_string_restored(server):
    server.replies.append(ok("<reason>r</reason><plan>[]", stop_reason="</plan>"))
    rt = runtime(server, sampling=Sampling(temperature=0.7, top_p=0.9, seed=3))
    c = rt.complete("PROMPT", stop=["</plan>", "</answer>"], max_new_tokens=64)
    assert c == Completion("<reason>r</reason><plan>[]</plan>", 7, "stop")
    body = server.requests[0]
    assert body["prompt"] == "PROMPT" and body["model"] == "qwen"
    assert body["stop"] == ["</plan>", "</answer>"] and body["max_tokens"] == 64
    assert (body["temperature"], body["top_p"], body["seed"]) == (0.7, 0.9, 3)


def test_finish_reason_mapping_and_local_stop_cut(server):
    server.replies += [
        ok("abc", finish="length"),
        ok("the end", finish="stop"),  # end of sequence: nothing to restore
        ok("x</plan>ignored", finish="length"),  # a server that ignored `stop`
        (200, {"choices": [{"text": "matched", "finish_reason": "stop", "matched_stop": "!"}]}),
    ]
    rt = runtime(server)
    assert rt.complete("p", stop=["</plan>"], max_new_tokens=3).finish_reason == "length"
    assert rt.complete("p", stop=["</plan>"], max_new_tokens=3) == Completion("the end", 7, "stop")
    assert rt.complete("p", stop=["</plan>"], max_new_tokens=3) == Completion("x</plan>", 7, "stop")
    # no usage: counted locally (word/punctuation pieces)
    assert rt.complete("p", stop=["!"], max_new_tokens=3) == Completion("matched!", 2, "stop")


def test_retries_on_503_then_succeeds(server):
    waits = []
    server.replies += [(503, {"error": "loading"}), (429, {"error": "busy"}), ok("fine")]
    rt = OpenAIRuntime(server.url, "qwen", backoff_s=0.25, sleep=waits.append)
    assert rt.complete("p", stop=[], max_new_tokens=4).text == "fine"
    assert len(server.requests) == 3 and waits == [0.25, 0.5]


def test_bounded_retries_then_clear_error(server):
    server.replies += [(500, {"error": "boom"})] * 3
    with pytest.raises(EndpointError, match=r"after 3 attempts.*HTTP 500"):
        runtime(server, max_retries=2).complete("p", stop=[], max_new_tokens=4)


def test_400_is_a_clear_error_without_retry(server):
    server.replies.append((400, {"error": {"message": "max_tokens is too large"}}))
    with pytest.raises(EndpointError, match=r"HTTP 400.*max_tokens is too large"):
        runtime(server).complete("p", stop=[], max_new_tokens=4)
    assert len(server.requests) == 1


def test_past_deadline_sends_nothing(server):
    c = runtime(server).complete("p", stop=[], max_new_tokens=4, deadline=time.monotonic() - 1)
    assert c == Completion("", 0, "deadline") and server.requests == []


def test_unreachable_server_is_retried_then_reported():
    rt = OpenAIRuntime("http://127.0.0.1:9/v1", "qwen", max_retries=1, backoff_s=0.0)
    with pytest.raises(EndpointError, match="transport error"):
        rt.complete("p", stop=[], max_new_tokens=4)


def test_prompt_format_api_key_and_bad_config(server, monkeypatch):
    monkeypatch.setenv("FRS_TEST_KEY", "sekrit")
    server.replies.append(ok("x"))
    rt = runtime(server, api_key_env="FRS_TEST_KEY", thinking=True)
    assert rt.format_prompt("S", "U") == chatml_prompt("S", "U", thinking=True)
    rt.complete("p", stop=[], max_new_tokens=4)
    assert server.headers[0]["Authorization"] == "Bearer sekrit"
    with pytest.raises(ValueError, match="FRS_MISSING_KEY"):
        OpenAIRuntime(server.url, "m", api_key_env="FRS_MISSING_KEY")
    with pytest.raises(ValueError, match="http"):
        OpenAIRuntime("127.0.0.1:8000", "m")


PLAN = '<reason>find the mugs</reason><plan>[{"tool": "find", "args": {"label": "mug"}}]</plan>'


@pytest.mark.parametrize("kind", ["vllm", "llamacpp", "ignore"])
def test_rollout_runs_tools_whatever_the_server_says_about_stops(server, kind):
    """llama.cpp cuts at </plan> without saying so; the plan must still
    run and the rollout continue to an answer."""
    server.kind = kind
    # each continuation runs on past its stop string, as a model would without the stop
    server.continuations += [
        PLAN + '<results>{"invented": 1}</results>',
        '<answer>{"ids": [1]}</answer> and more',
    ]
    result = Reasoner(runtime(server), ReasonerConfig()).answer(two_mugs(), "the mugs")
    assert (result.outcome, result.ids, result.rounds) == ("answered", [1], 1)
    assert result.tool_calls[0]["tool"] == "find" and "ok" in result.tool_calls[0]
    assert check_format(result.transcript.rollout)
    assert "invented" not in result.transcript.text  # the engine wrote the results
    assert server.requests[1]["prompt"].endswith("</results>")


@pytest.mark.parametrize("kind", ["vllm", "llamacpp"])
def test_end_of_sequence_outside_a_block_adds_no_stop_string(server, kind):
    server.kind = kind
    server.continuations += ["<reason>no idea</reason>", "<reason>x</reason><plan>[]"]
    rt = runtime(server)
    stops = ["</plan>", "</answer>"]
    assert rt.complete("p", stop=stops, max_new_tokens=9).text == "<reason>no idea</reason>"
    # vLLM says null (end of sequence) inside an open <plan>: trusted, nothing added;
    # llama.cpp says nothing, and the open block is taken as the stop
    expected = "<reason>x</reason><plan>[]" + ("</plan>" if kind == "llamacpp" else "")
    assert rt.complete("p", stop=stops, max_new_tokens=9).text == expected


def test_unclosed_stop_picks_the_open_block():
    stops = ("</plan>", "</answer>")
    assert unclosed_stop("<reason>r</reason><plan>[", stops) == "</plan>"
    assert unclosed_stop('<plan>[]</plan><results>{}</results><answer>{"ids"', stops) == (
        "</answer>"
    )
    assert unclosed_stop("<reason>r</reason>", stops) is None
    assert unclosed_stop("<plan>[]</plan>", stops) is None
    assert unclosed_stop("<plan>", ("STOP",)) is None  # only closing-tag stops are inferred


def two_mugs() -> Twin:
    h, w = 40, 60
    objects = []
    for i, (label, x0) in enumerate([("mug", 5), ("plate", 30)], start=1):
        mask = np.zeros((h, w), bool)
        mask[10:30, x0 : x0 + 15] = True
        objects.append(TwinObject.from_mask(i, label, 0.9, mask))
    return Twin([FrameTwin(index=0, stamp=0.0, width=w, height=h, objects=objects)])


GRAMMAR_FIELD = {"llamacpp": "grammar", "vllm": "structured_outputs"}


@pytest.mark.parametrize("kind", ["llamacpp", "vllm"])
def test_constrained_requests_carry_the_grammar_where_the_server_reads_it(server, kind):
    server.kind = kind
    server.continuations += [PLAN, '<answer>{"ids": [1]}</answer>']
    rt = OpenAIRuntime(server.url, "m", backoff_s=0.0, constrained=True, server=kind)
    result = Reasoner(rt, ReasonerConfig()).answer(two_mugs(), "the mugs")
    assert result.outcome == "answered"
    first, after_results = server.requests
    grammars = []
    for body in (first, after_results):
        assert set(body) & set(GRAMMAR_FIELD.values()) == {GRAMMAR_FIELD[kind]}
        field = body[GRAMMAR_FIELD[kind]]
        grammars.append(field if kind == "llamacpp" else field["grammar"])
    # the turn after </results> is a plan or an answer; only the first one has a <reason>
    assert grammars == [protocol_gbnf(), protocol_gbnf(after_results=True)]
    assert '"<reason>"' in grammars[0] and '"<reason>"' not in grammars[1]


def test_unconstrained_requests_carry_no_grammar(server):
    server.replies.append(ok("x"))
    OpenAIRuntime(server.url, "m", backoff_s=0.0, server="llamacpp").complete(
        "p", stop=[], max_new_tokens=4
    )
    assert not set(server.requests[0]) & set(GRAMMAR_FIELD.values())


def test_constrained_needs_a_server_kind_that_takes_a_grammar(server):
    with pytest.raises(ValueError, match="Ollama server cannot constrain"):
        OpenAIRuntime(server.url, "m", backoff_s=0.0, constrained=True, server="ollama")
    with pytest.raises(ValueError, match=r"needs runtime\.server"):
        OpenAIRuntime(server.url, "m", backoff_s=0.0, constrained=True)
    with pytest.raises(ValueError, match="server must be one of"):
        OpenAIRuntime(server.url, "m", backoff_s=0.0, server="sglang")
    with pytest.raises(ValueError, match=r"extra_body sets \['grammar'\]"):
        OpenAIRuntime(
            server.url,
            "m",
            backoff_s=0.0,
            constrained=True,
            server="llamacpp",
            extra_body={"grammar": "root"},
        )


def test_yaml_settings_reach_the_runtime(server):
    server.replies.append(ok("x"))
    endpoint = {"url": server.url, "backoff_s": 0.0}
    cfg = {"kind": "openai", "model": "m", "endpoint": endpoint, "constrained": True}
    rt = load_runtime({**cfg, "server": "vllm"})
    rt.complete("p", stop=[], max_new_tokens=4)
    assert server.requests[0]["structured_outputs"] == {"grammar": protocol_gbnf()}
    with pytest.raises(ValueError, match="Ollama"):
        load_runtime({**cfg, "server": "ollama"})


def test_requests_turn_repetition_penalties_off(server):
    """llama.cpp's default repeat_penalty 1.1 changes greedy answers: every request sends
    the neutral settings the local runtimes decode with (extra_body may override them)."""
    server.replies += [ok("a"), ok("b"), ok("c")]
    for kind, extra in (("llamacpp", None), ("vllm", None), ("llamacpp", {"repeat_penalty": 1.3})):
        rt = OpenAIRuntime(server.url, "qwen", server=kind, extra_body=extra)
        rt.complete("p", stop=[], max_new_tokens=4)
    llama, vllm, custom = server.requests
    assert llama["repeat_penalty"] == 1.0 and "repetition_penalty" not in llama
    assert vllm["repetition_penalty"] == 1.0 and "repeat_penalty" not in vllm
    for body in (llama, vllm):
        assert body["presence_penalty"] == body["frequency_penalty"] == 0.0
    assert custom["repeat_penalty"] == 1.3


def test_a_timed_out_request_is_not_retried_into_the_busy_server(server):
    server.delay_s = 0.6
    server.replies.append(ok("late"))
    rt = runtime(server, timeout_s=0.2, max_retries=3)
    with pytest.raises(EndpointError, match="not retried"):
        rt.complete("p", stop=[], max_new_tokens=4)
    time.sleep(0.7)
    assert len(server.requests) == 1


def test_request_timeout_follows_the_reasoning_bound(server):
    """No timeout_s: a slow request may take the time left before the deadline; one that
    reaches the deadline is a deadline completion, sent once."""
    server.delay_s = 0.5
    server.replies += [ok("slow but in time"), ok("too late")]
    rt = runtime(server)
    assert rt.timeout_s is None
    out = rt.complete("p", stop=[], max_new_tokens=4, deadline=time.monotonic() + 5)
    assert out.text == "slow but in time"
    out = rt.complete("p", stop=[], max_new_tokens=4, deadline=time.monotonic() + 0.2)
    assert out.finish_reason == "deadline"
    time.sleep(0.6)
    assert len(server.requests) == 2


@pytest.mark.slow
def test_frs_eval_openai_constrained_flags_and_unknown_parameters(server, tmp_path, capsys):
    """`frs eval --method openai --server llamacpp --constrained`: every request carries the
    grammar and the neutral penalties; the efficiency table says the parameters are
    unknown (the weights are the server's), not 0."""
    import json as _json

    from frs_ros.cli import main

    data = tmp_path / "bench"
    gen = ["bench", "generate", "--out", str(data), "--n-per-cell", "1", "--splits", "test"]
    assert main([*gen, "--no-progress", "--size", "120x160"]) == 0
    n = sum(1 for _ in (data / "test.jsonl").open())
    server.kind = "llamacpp"
    server.continuations += ['<reason>r</reason><answer>{"ids": []}</answer>'] * n
    out = tmp_path / "eval"
    args = ["eval", str(data), "--method", "openai", "--endpoint", server.url, "--model", "m"]
    args += ["--server", "llamacpp", "--constrained", "--out", str(out), "--no-progress"]
    assert main(args) == 0, capsys.readouterr().err
    assert len(server.requests) == n
    for body in server.requests:
        assert body["grammar"] == protocol_gbnf() and body["repeat_penalty"] == 1.0
    eff = _json.loads((out / "efficiency.json").read_text())
    assert eff["llm_params"] is None and eff["total_params"] is None
    assert "| openai | twin | unknown | unknown |" in (out / "efficiency.md").read_text()
    bad = ["eval", str(data), "--method", "openai", "--endpoint", server.url, "--model", "m"]
    assert main([*bad, "--constrained", "--out", str(tmp_path / "x")]) == 2
    assert "runtime.server" in capsys.readouterr().err
