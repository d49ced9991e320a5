"""Training a pretrained GGUF student through LoRA (benchmarks/learning.py --student smollm2).

Needs the SmolLM2-135M-Instruct file assembled beforehand with
``frs models get smollm2-135m-instruct-gguf --dir models`` (the folder can be moved with
``FRS_MODELS_DIR``) and the ``gguf`` package; skipped otherwise, never downloads.
"""

import importlib.util
import os
import warnings
from pathlib import Path

import pytest
import torch

from frs_ros.benchmark.generator import generate_sample
from frs_ros.reasoning.model_sources import find_source
from frs_ros.replay import replay
from frs_ros.samples import Sample
from frs_ros.training.config import LoraSettings
from frs_ros.training.masking import collate, encode_rollout, weighted_nll
from frs_ros.training.model import load_policy, load_runtime_for, save_policy
from frs_ros.training.sft import chat_prompt

ROOT = Path(__file__).resolve().parents[1]
SMOL = find_source("smollm2-135m-instruct-gguf")
MODEL = Path(os.environ.get("FRS_MODELS_DIR", ROOT / "models")) / SMOL.filename

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("gguf") is None, reason="the gguf package is not installed"
    ),
    pytest.mark.skipif(
        not MODEL.is_file(),
        reason=f"{MODEL} is absent: run `frs models get {SMOL.name} --dir models` once",
    ),
]


@pytest.mark.slow
def test_gguf_student_trains_through_lora_and_reloads_with_its_adapter(tmp_path) -> None:
    sample = Sample.from_dict(generate_sample("train", 0, "spatial", 1, False).to_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        policy, tokenizer = load_policy(str(MODEL), LoraSettings(r=2, alpha=4, dropout=0.0))
    trainable = [n for n, p in policy.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)  # the GGUF weights stay frozen
    # the model's own chat template, not the tiny tokenizer's
    prompt = chat_prompt(tokenizer, sample.twin, sample.query, "brief")
    assert prompt.endswith("<|im_start|>assistant\n")
    chain = replay(sample.twin, sample.query, sample.chain).transcript
    enc = encode_rollout(tokenizer, prompt, chain.rollout, chain.engine_char_spans())
    loss = weighted_nll(policy, collate([enc], tokenizer.pad_token_id))
    loss.backward()
    assert torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())

    save_policy(policy, tokenizer, str(tmp_path / "adapter"))
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runtime = load_runtime_for(str(MODEL), str(tmp_path / "adapter"), constrained=True)
    assert runtime.grammar is not None
    assert runtime.format_prompt("S", "U").endswith("<|im_start|>assistant\n")
