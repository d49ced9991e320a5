"""Few-shot prompts: k solved train-split examples in the system prompt (ReasonerConfig)."""

from __future__ import annotations

import json
import warnings

import pytest

from frs_ros.benchmark import generate_sample, generate_split, write_jsonl
from frs_ros.cli import main
from frs_ros.reasoning import Reasoner, ReasonerConfig
from frs_ros.reasoning.few_shot import FEW_SHOT_CELLS, MAX_FEW_SHOT, few_shot_examples
from frs_ros.reasoning.protocol import check_format
from frs_ros.reasoning.runtime.base import ScriptedRuntime
from frs_ros.reasoning.runtime.hf import HFRuntime


def _shared_prefix(a: str, b: str) -> str:
    n = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return a[:n]


def _twin(index: int):
    return generate_sample("test", index, "spatial", 1, False).twin


def test_examples_are_solved_train_samples_chosen_deterministically():
    examples = few_shot_examples(MAX_FEW_SHOT)
    assert [(s.category, s.level, s.negative) for s in examples] == list(FEW_SHOT_CELLS)
    assert all(s.split == "train" for s in examples)
    assert len({s.scene_id for s in examples}) == MAX_FEW_SHOT
    assert all(check_format(s.chain) for s in examples)
    assert examples[3].gt_ids == [] and '"ids": []' in examples[3].chain
    few_shot_examples.cache_clear()  # regenerated from the seed: the same samples again
    assert [s.to_dict() for s in few_shot_examples(2)] == [s.to_dict() for s in examples[:2]]


def test_examples_are_in_the_prompt_prefix_every_query_shares():
    reasoner = Reasoner(ScriptedRuntime([]), ReasonerConfig(few_shot=2))
    a = reasoner.prompt(_twin(0), "the mug")
    b = reasoner.prompt(_twin(1), "the biggest thing I can see")
    shared = _shared_prefix(a, b)
    for example in few_shot_examples(2):
        assert f"Query: {example.query}\n\nReply: {example.chain}" in shared
    assert few_shot_examples(3)[2].chain not in a
    zero_shot = Reasoner(ScriptedRuntime([]), ReasonerConfig()).prompt(_twin(0), "the mug")
    assert "Solved examples" not in zero_shot
    assert a.endswith(zero_shot[zero_shot.index("<|im_end|>") :])  # same turn after them


def test_few_shot_rollout_is_only_the_models_turn():
    oracle = generate_sample("test", 0, "spatial", 1, False)
    chain = oracle.chain
    plan, answer = chain[: chain.index("<results>")], chain[chain.index("</results>") + 10 :]
    runtime = ScriptedRuntime([plan, answer])
    result = Reasoner(runtime, ReasonerConfig(few_shot=2)).answer(oracle.twin, oracle.query)
    assert result.transcript.rollout == chain and result.ids == oracle.gt_ids
    assert "Solved examples" in runtime.calls[0].text


def test_kv_cache_keeps_the_examples_across_twins():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny model's MEANINGLESS warning
        runtime = HFRuntime.tiny()
    # max_rounds 0: one model call per query, so the last prefill is the second prompt's;
    # no deadline: a query cut during prefill on a loaded machine would keep no cache
    config = ReasonerConfig(few_shot=2, max_rounds=0, max_new_tokens=3, timeout_s=3600)
    reasoner = Reasoner(runtime, config)
    first = reasoner.prompt(_twin(0), "the mug")
    second = reasoner.prompt(_twin(1), "the mug")
    reasoner.answer(_twin(0), "the mug")
    reasoner.answer(_twin(1), "the mug")
    new_text = second[len(_shared_prefix(first, second)) :]
    assert runtime.last_prefill_tokens <= runtime.count_tokens(new_text) + 2
    assert runtime.last_prefill_tokens < runtime.count_tokens(second) / 3


@pytest.mark.parametrize("bad", [-1, MAX_FEW_SHOT + 1, True, 1.5, "2"])
def test_bad_few_shot_is_refused_naming_the_setting(bad):
    with pytest.raises(ValueError, match=rf"few_shot must be an integer in \[0, {MAX_FEW_SHOT}\]"):
        ReasonerConfig(few_shot=bad)


def _scripted_config(tmp_path, n: int):
    cfg = tmp_path / "scripted.yaml"
    reply = '<reason>r</reason><answer>{"ids": []}</answer>'
    cfg.write_text(json.dumps({"runtime": {"kind": "scripted", "outputs": [reply] * n}}))
    return cfg


def test_eval_records_few_shot_and_refuses_the_train_split(tmp_path, capsys):
    split = generate_split("test", 1, progress=False)[:2]
    data = write_jsonl(tmp_path / "test.jsonl", split)
    run = ["eval", str(data), "--method", "config", "--no-progress"]
    run += ["--reasoner-config", str(_scripted_config(tmp_path, 2))]
    assert main([*run, "--few-shot", "2", "--out", str(tmp_path / "fs")]) == 0
    assert json.loads((tmp_path / "fs" / "manifest.json").read_text())["few_shot"] == 2
    assert main([*run, "--out", str(tmp_path / "fs")]) == 2  # zero-shot into a few-shot run
    assert "few_shot" in capsys.readouterr().err

    train = write_jsonl(tmp_path / "train.jsonl", generate_split("train", 1, progress=False)[:1])
    train_run = ["eval", str(train), "--method", "config", "--no-progress", "--few-shot", "1"]
    train_run += ["--reasoner-config", str(_scripted_config(tmp_path, 1))]
    assert main([*train_run, "--out", str(tmp_path / "train")]) == 2
    assert "takes its examples from the train split" in capsys.readouterr().err
    assert main([*run, "--few-shot", str(MAX_FEW_SHOT + 1)]) == 2
    assert "--few-shot: few_shot must be an integer" in capsys.readouterr().err
