"""The ort-genai CPU runtime on the tiny Qwen3 converted by ``frs export-cpu``.

fp32 conversions must reproduce HFRuntime's logits and greedy text (so the conversion,
the cache crops and the tool-round continuation are exact); the int4 conversion is what a
robot runs, checked for the contract (stop strings, limits, prefix reuse).
"""

import importlib.util
import json
import time
import warnings

import pytest
import torch

from frs_ros.cli import main
from frs_ros.reasoning.runtime import LLMRuntime, load_runtime
from frs_ros.reasoning.runtime.hf import HFRuntime, tiny_qwen3

pytestmark = pytest.mark.slow  # module fixtures build models or export graphs

needs_ort_genai = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime_genai") is None,
    reason="onnxruntime-genai is not installed (pip install 'frs_ros[cpu-llm]')",
)

SYSTEM = "You segment objects in a digital twin. Twin: "
TWIN_A = '{"objs":[{"id":1,"lb":"mug"},{"id":2,"lb":"kettle"}]}'
TWIN_B = '{"objs":[{"id":7,"lb":"bottle"}]}'


def hf_tiny(**kwargs) -> HFRuntime:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return HFRuntime.tiny(**kwargs)


def ort(model_dir, **kwargs):
    from frs_ros.reasoning.runtime.ort_genai import OrtGenaiRuntime

    return OrtGenaiRuntime(model_dir, threads=1, **kwargs)


@pytest.fixture(scope="module")
def fp32_dir(tmp_path_factory):
    from frs_ros.reasoning.runtime.export_cpu import convert

    return convert("tiny", tmp_path_factory.mktemp("ort") / "fp32", precision="fp32")


@pytest.fixture(scope="module")
def int4_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("ort") / "int4"
    assert main(["export-cpu", "tiny", "--out", str(out)]) == 0  # int4 is the default
    return out


@pytest.fixture(scope="module")
def prompt() -> str:
    return hf_tiny().format_prompt(SYSTEM + TWIN_A, "Which mug is closest?")


@needs_ort_genai
def test_export_cpu_writes_a_loadable_int4_model(int4_dir):
    manifest = json.loads((int4_dir / "frs_export.json").read_text())
    assert manifest["precision"] == "int4" and manifest["source"] == "tiny"
    rt = ort(int4_dir)
    assert isinstance(rt, LLMRuntime)
    assert rt.format_prompt("S", "U") == hf_tiny().format_prompt("S", "U")


@needs_ort_genai
def test_int4_mixed_keeps_the_lm_head_in_int8(tmp_path, prompt):
    """``--precision int4-mixed``: an int4 body with int8 where k-quant's mixed strategy
    puts it (at least the LM head), loadable and decoding like the plain int4 model."""
    import onnx

    out = tmp_path / "mixed"
    assert main(["export-cpu", "tiny", "--precision", "int4-mixed", "--out", str(out)]) == 0
    graph = onnx.load(str(out / "model.onnx"), load_external_data=False).graph
    bits = {
        node.name: next(a.i for a in node.attribute if a.name == "bits")
        for node in graph.node
        if node.op_type == "MatMulNBits"
    }
    assert set(bits.values()) == {4, 8}, bits
    assert [b for name, b in bits.items() if "lm_head" in name] == [8], bits
    rt = ort(out)
    done = rt.complete(prompt, stop=["\n"], max_new_tokens=8)
    assert done.n_tokens >= 1


@needs_ort_genai
def test_fp32_conversion_reproduces_hf_logits_and_greedy_text(fp32_dir, prompt):
    rt, hf = ort(fp32_dir), hf_tiny()
    torch.testing.assert_close(
        rt.next_token_logits(prompt), hf.next_token_logits(prompt), rtol=1e-4, atol=1e-4
    )
    assert rt.complete(prompt, stop=[], max_new_tokens=24) == hf.complete(
        prompt, stop=[], max_new_tokens=24
    )


@needs_ort_genai
def test_tool_round_resumes_the_sequence_and_prefills_only_new_tokens(fp32_dir, prompt):
    warm, cold, hf = ort(fp32_dir), ort(fp32_dir, reuse_cache=False), hf_tiny()
    r1 = warm.complete(prompt, stop=["</plan>"], max_new_tokens=12)
    assert warm.last_prefill_tokens == warm.count_tokens(prompt)
    round2 = prompt + r1.text + '<results>{"results": [{"tool": "count", "ok": 2}]}</results>'
    r2 = warm.complete(round2, stop=["</plan>"], max_new_tokens=12)
    assert r2 == cold.complete(round2, stop=["</plan>"], max_new_tokens=12)
    assert r2 == hf.complete(round2, stop=["</plan>"], max_new_tokens=12)
    assert warm.last_prefill_tokens < cold.last_prefill_tokens == warm.count_tokens(round2)


@needs_ort_genai
def test_system_prompt_is_prefilled_once_across_queries_and_twins(fp32_dir):
    rt, cold = ort(fp32_dir), ort(fp32_dir, reuse_cache=False)
    first = rt.format_prompt(SYSTEM + TWIN_A, "Which mug is closest?")
    rt.complete(first, stop=[], max_new_tokens=8)
    for twin, query in ((TWIN_A, "the one to its left"), (TWIN_B, "the bottle")):
        text = rt.format_prompt(SYSTEM + twin, query)
        before = list(rt._cached_ids)
        logits = rt.next_token_logits(text)
        ids = rt.encode(text)
        shared = next(i for i, (a, b) in enumerate(zip(before, ids, strict=False)) if a != b)
        # everything up to the first differing token came from the cache, system prompt included
        assert rt.last_prefill_tokens == len(ids) - shared
        assert shared >= rt.count_tokens("<|im_start|>system\n" + SYSTEM)
        torch.testing.assert_close(logits, cold.next_token_logits(text), rtol=1e-4, atol=1e-4)


@needs_ort_genai
def test_int4_honours_stop_strings_length_and_deadline(int4_dir, prompt):
    full = ort(int4_dir).complete(prompt, stop=[], max_new_tokens=24)
    assert full.finish_reason == "length" and full.n_tokens == 24 and full.text
    stop = full.text[len(full.text) // 2 : len(full.text) // 2 + 3]
    assert stop.strip(), "need a visible stop string from the random model's output"
    c = ort(int4_dir).complete(prompt, stop=[stop], max_new_tokens=24)
    assert c.finish_reason == "stop" and c.n_tokens < 24
    assert c.text == full.text[: full.text.find(stop) + len(stop)]
    late = ort(int4_dir).complete(prompt, stop=[], max_new_tokens=8, deadline=time.monotonic())
    assert (late.text, late.n_tokens, late.finish_reason) == ("", 0, "deadline")


@needs_ort_genai
def test_context_overflow_is_a_clear_error(int4_dir, prompt):
    rt = ort(int4_dir, context=40)
    short = rt.format_prompt("S", "U")
    assert rt.count_tokens(short) + 2 <= 40 < rt.count_tokens(prompt)
    with pytest.raises(ValueError, match=r"raise runtime\.context"):
        rt.complete(prompt, stop=[], max_new_tokens=4)
    # the failed call left no half-filled cache behind: a fitting text works afterwards
    assert rt.complete(short, stop=[], max_new_tokens=2).n_tokens >= 1


@needs_ort_genai
def test_lora_adapter_is_merged_before_conversion(tmp_path, prompt):
    from peft import LoraConfig, get_peft_model

    from frs_ros.reasoning.runtime.export_cpu import convert

    base = hf_tiny()
    lora = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    torch.manual_seed(1)
    get_peft_model(tiny_qwen3(base.tokenizer, seed=0), lora).save_pretrained(str(tmp_path / "a"))
    out = convert("tiny", tmp_path / "ort", adapter=tmp_path / "a", precision="fp32")
    got = ort(out).next_token_logits(prompt)
    torch.testing.assert_close(
        got, hf_tiny(adapter=tmp_path / "a").next_token_logits(prompt), rtol=1e-4, atol=1e-4
    )
    assert not torch.allclose(got, base.next_token_logits(prompt), atol=1e-3)


@needs_ort_genai
def test_yaml_selects_the_runtime_and_rejects_typos(int4_dir):
    from frs_ros.reasoning.runtime.ort_genai import OrtGenaiRuntime

    cfg = {"kind": "ort-genai", "model": str(int4_dir), "threads": 1, "context": 512}
    rt = load_runtime({"runtime": cfg})
    assert isinstance(rt, OrtGenaiRuntime) and rt.context == 512
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['dtype'\] in runtime"):
        load_runtime({"runtime": {**cfg, "dtype": "bf16"}})
    with pytest.raises(ValueError, match=r"needs runtime\.model"):
        load_runtime({"runtime": {"kind": "ort-genai"}})


@needs_ort_genai
def test_segment_runs_with_the_cpu_runtime(int4_dir, tmp_path):
    from PIL import Image

    image = tmp_path / "scene.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(image)
    yaml_path = tmp_path / "reasoner_cpu.yaml"
    yaml_path.write_text(f"runtime: {{kind: ort-genai, model: {int4_dir}, threads: 1}}\n")
    out = tmp_path / "out"
    args = ["segment", str(image), "-q", "the red thing", "--out", str(out), "--models", "tiny"]
    assert main([*args, "--reasoner", str(yaml_path), "--max-new-tokens", "16"]) == 0
    report = json.loads((out / "result.json").read_text())
    assert report["tokens"] <= 16 and report["outcome"] != "error"


def test_not_a_model_directory_says_how_to_convert(tmp_path):
    pytest.importorskip("onnxruntime_genai", reason="onnxruntime-genai is not installed")
    from frs_ros.reasoning.runtime.ort_genai import OrtGenaiRuntime

    with pytest.raises(FileNotFoundError, match="frs export-cpu"):
        OrtGenaiRuntime(tmp_path)


def test_missing_extra_is_a_clear_error(monkeypatch, tmp_path):
    import sys

    from frs_ros.reasoning.runtime.export_cpu import convert
    from frs_ros.reasoning.runtime.ort_genai import OrtGenaiRuntime

    monkeypatch.setitem(sys.modules, "onnxruntime_genai", None)  # import now fails
    with pytest.raises(ImportError, match=r"frs_ros\[cpu-llm\]"):
        OrtGenaiRuntime(tmp_path)
    with pytest.raises(ImportError, match=r"frs_ros\[cpu-llm\]"):
        convert("tiny", tmp_path / "out")


@needs_ort_genai
def test_constrained_decoding_keeps_int4_output_in_the_protocol(int4_dir):
    from frs_ros.reasoning import Reasoner, ReasonerConfig
    from frs_ros.reasoning.protocol import check_format
    from frs_ros.twin.synthetic import random_twin

    rt = load_runtime({"kind": "ort-genai", "model": str(int4_dir), "constrained": True})
    result = Reasoner(rt, ReasonerConfig(max_new_tokens=160, max_rounds=2)).answer(
        random_twin(3, 1), "the mug"
    )
    assert result.outcome in ("answered", "empty", "max_rounds", "max_tokens")
    spans = result.transcript.spans
    for i, (text, source) in enumerate(spans):
        if source == "model":
            before = "".join(t for t, _ in spans[:i])
            assert rt.grammar.allows(rt.grammar.pattern_for(before), text), text
    if result.outcome in ("answered", "empty"):
        assert check_format(result.transcript.rollout)


@needs_ort_genai
def test_drafts_on_an_all_logits_model_keep_the_exact_rollout(tmp_path):
    """``--all-logits`` keeps every position's logits, so the runtime checks prompt-lookup
    drafts: the constrained rollout is HFRuntime's without drafts, token for token."""
    from frs_ros.reasoning.grammar import ProtocolGrammar
    from frs_ros.reasoning.runtime.export_cpu import convert

    every = convert("tiny", tmp_path / "fp32-all", precision="fp32", all_logits=True)
    ref, rt = hf_tiny(constrained=True), ort(every, constrained=True, draft_tokens=4)
    prompt = ref.format_prompt("You segment objects. mug mug mug kettle", "the mug mug")
    outs = []
    for runtime in (ref, rt):
        runtime.grammar = ProtocolGrammar(max_reason_chars=40)
        outs.append(runtime.complete(prompt, stop=["</plan>", "</answer>"], max_new_tokens=120))
    assert outs[0] == outs[1]
    assert rt.timing.draft_accepted > 0 and rt.timing.decode_steps < ref.timing.decode_steps


@needs_ort_genai
def test_a_last_logits_model_refuses_draft_tokens(int4_dir):
    with pytest.raises(ValueError, match="--all-logits"):
        ort(int4_dir, draft_tokens=4)
