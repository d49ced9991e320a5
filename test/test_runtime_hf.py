"""HFRuntime on the tiny random-weight Qwen3: limits, determinism, KV-cache reuse, LoRA."""

import time
import warnings

import pytest
import torch

from frs_ros.reasoning.runtime import LLMRuntime, Sampling, chatml_prompt
from frs_ros.reasoning.runtime.hf import HFRuntime, ModelNotAvailableError, tiny_qwen3

SYSTEM = "You segment objects in a digital twin. Twin: " + '{"objs":[{"id":1,"lb":"mug"}]}'


def tiny(**kwargs) -> HFRuntime:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return HFRuntime.tiny(**kwargs)


@pytest.fixture(scope="module")
def prompt() -> str:
    return tiny().format_prompt(SYSTEM, "Which mug is closest?")


def test_tiny_warns_and_is_a_runtime():
    with pytest.warns(UserWarning, match="MEANINGLESS"):
        rt = HFRuntime.tiny()
    assert isinstance(rt, LLMRuntime)


def test_chat_template_matches_qwen3_format_with_thinking_on_and_off():
    for thinking in (True, False):
        rt = tiny(thinking=thinking)
        assert rt.format_prompt("S", "U") == chatml_prompt("S", "U", thinking=thinking)


def test_protocol_tags_are_single_tokens():
    rt = tiny()
    for tag in ("<reason>", "</plan>", "<results>", "</results>", "</answer>", "<think>"):
        assert rt.count_tokens(tag) == 1, tag


def test_greedy_is_deterministic_and_length_limited(prompt):
    a = tiny().complete(prompt, stop=[], max_new_tokens=12)
    b = tiny().complete(prompt, stop=[], max_new_tokens=12)
    assert a == b
    assert a.finish_reason == "length" and a.n_tokens == 12 and a.text


def test_stop_string_trims_and_reports_stop(prompt):
    full = tiny().complete(prompt, stop=[], max_new_tokens=24).text
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    assert stop.strip(), "need a visible stop string from the random model's output"
    c = tiny().complete(prompt, stop=[stop], max_new_tokens=24)
    assert c.finish_reason == "stop"
    assert c.text == full[: full.find(stop) + len(stop)]
    assert c.n_tokens < 24


def test_past_deadline_reports_deadline(prompt):
    rt = tiny()
    c = rt.complete(prompt, stop=[], max_new_tokens=8, deadline=time.monotonic() - 0.001)
    assert (c.text, c.n_tokens, c.finish_reason) == ("", 0, "deadline")


def test_bad_input_is_a_clear_error():
    rt = tiny()
    with pytest.raises(ValueError, match="empty text"):
        rt.complete("", stop=[], max_new_tokens=4)
    with pytest.raises(TypeError, match="single string"):
        rt.complete("x", stop="</plan>", max_new_tokens=4)
    with pytest.raises(TypeError, match="str"):
        rt.complete(b"x", stop=[], max_new_tokens=4)  # type: ignore[arg-type]


def test_cache_reuse_prefills_only_the_suffix_and_matches_a_cold_run(prompt):
    warm, cold = tiny(), tiny(reuse_cache=False)
    results = '<results>{"ok": true, "ids": [1]}</results>'
    # Round 1, then round 2 after the engine appended <results> (a multi-round rollout).
    r1w = warm.complete(prompt, stop=["</plan>"], max_new_tokens=10)
    r1c = cold.complete(prompt, stop=["</plan>"], max_new_tokens=10)
    assert r1w == r1c and warm.last_prefill_tokens == warm.count_tokens(prompt)
    round2 = prompt + r1w.text + results
    r2w = warm.complete(round2, stop=["</plan>"], max_new_tokens=10)
    r2c = cold.complete(round2, stop=["</plan>"], max_new_tokens=10)
    assert r2w == r2c
    assert warm.last_prefill_tokens < cold.last_prefill_tokens == warm.count_tokens(round2)

    # A second query on the same twin shares the system prompt: the cache is cropped to
    # it. Added tokens split the text, so the prefix tokens are exactly those of `head`.
    head = prompt + "<reason>"
    tail = "the mug</reason><answer>"
    assert warm.encode(head + tail) == warm.encode(head) + warm.encode(tail)
    warm.next_token_logits(head + "something else entirely")
    logits_warm = warm.next_token_logits(head + tail)
    assert warm.last_prefill_tokens == len(warm.encode(tail))
    logits_cold = cold.next_token_logits(head + tail)
    assert cold.last_prefill_tokens == len(cold.encode(head + tail))
    torch.testing.assert_close(logits_warm, logits_cold, rtol=1e-4, atol=1e-5)


def test_same_text_twice_runs_one_token():
    rt = tiny()
    text = rt.format_prompt("S", "U")
    first = rt.next_token_logits(text)
    torch.testing.assert_close(rt.next_token_logits(text), first, rtol=1e-4, atol=1e-5)
    assert rt.last_prefill_tokens == 1


def test_seeded_sampling_is_reproducible_and_differs_from_greedy(prompt):
    hot = Sampling(temperature=1.5, top_p=0.95, top_k=50, seed=7)
    a = tiny(sampling=hot).complete(prompt, stop=[], max_new_tokens=16)
    b = tiny(sampling=hot).complete(prompt, stop=[], max_new_tokens=16)
    greedy = tiny().complete(prompt, stop=[], max_new_tokens=16)
    assert a == b and a.text != greedy.text


def test_lora_adapter_round_trip(tmp_path, prompt):
    from peft import LoraConfig, PeftModel, get_peft_model

    base = tiny()
    # The same random base (seed 0) with a non-zero LoRA, so the adapter changes outputs.
    lora = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    torch.manual_seed(1)
    peft_model = get_peft_model(tiny_qwen3(base.tokenizer, seed=0), lora)
    peft_model.save_pretrained(str(tmp_path / "adapter"))

    adapted = tiny(adapter=tmp_path / "adapter")
    assert isinstance(adapted.model, PeftModel)
    expected = HFRuntime(peft_model, base.tokenizer).next_token_logits(prompt)
    got = adapted.next_token_logits(prompt)
    torch.testing.assert_close(got, expected)
    assert not torch.allclose(got, base.next_token_logits(prompt), atol=1e-3)


def test_from_pretrained_local_dir_and_missing_model(tmp_path, prompt):
    rt = tiny()
    rt.model.save_pretrained(str(tmp_path / "m"))
    rt.tokenizer.save_pretrained(str(tmp_path / "m"))
    loaded = HFRuntime.from_pretrained(tmp_path / "m", dtype="float32")
    assert loaded.complete(prompt, stop=[], max_new_tokens=6) == rt.complete(
        prompt, stop=[], max_new_tokens=6
    )
    with pytest.raises(ModelNotAvailableError, match=r"download Qwen/Qwen3-404B --local-dir"):
        HFRuntime.from_pretrained("Qwen/Qwen3-404B", local_files_only=True)
    with pytest.raises(ValueError, match="unknown dtype"):
        HFRuntime.from_pretrained(tmp_path / "m", dtype="int3")
