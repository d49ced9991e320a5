"""Policy loading for training: a causal LM (hub id, local dir or ``tiny``), optional LoRA
(new, or continued from an adapter directory), and its tokenizer."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch

from frs_ros.training.config import LoraSettings

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach for the hub silently


def load_base(model: str, dtype: str = "float32", seed: int = 0) -> tuple[Any, Any]:
    """(model, tokenizer). ``tiny``: random 2-layer Qwen3 + the tiny tokenizer (seed fixed,
    so an adapter trained on it loads onto the same base later)."""
    from frs_ros.reasoning.runtime.hf import HFRuntime, resolve_dtype, tiny_qwen3

    if model == "tiny":
        from frs_ros.reasoning.runtime.tiny_tokenizer import load_tiny_tokenizer

        tokenizer = load_tiny_tokenizer()
        lm = tiny_qwen3(tokenizer, seed=seed)
        dt = resolve_dtype(dtype)
        return (lm.to(dt) if dt != "auto" else lm), tokenizer
    runtime = HFRuntime.from_pretrained(model, dtype=dtype)  # its errors say how to supply it
    return runtime.model, runtime.tokenizer


def load_policy(
    model: str,
    lora: LoraSettings,
    *,
    init_adapter: str = "",
    dtype: str = "float32",
) -> tuple[Any, Any]:
    """The trainable policy: LoRA over the base (``lora.r > 0``) or the whole model.

    ``init_adapter`` continues training from a saved adapter (LoRA) or a full model
    directory (``r = 0``).
    """
    from peft import LoraConfig, PeftModel, get_peft_model

    if init_adapter and lora.r == 0:  # a full-weight checkpoint dir (model + tokenizer)
        base, tokenizer = load_base(init_adapter, dtype)
        base.train()
        return base, tokenizer
    base, tokenizer = load_base(model, dtype)
    if lora.r == 0:
        base.train()
        return base, tokenizer
    if init_adapter:
        policy = PeftModel.from_pretrained(base, init_adapter, is_trainable=True)
    else:
        cfg = LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            task_type="CAUSAL_LM",
        )
        policy = get_peft_model(base, cfg)
    policy.train()
    return policy, tokenizer


def save_policy(model: Any, tokenizer: Any, out_dir: str) -> None:
    """An adapter directory (LoRA) or a full model directory, plus the tokenizer — the
    forms ``HFRuntime.from_pretrained(model, adapter=...)`` loads."""
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def autocast_dtype(mixed_precision: str) -> torch.dtype | None:
    """bf16 when asked, or on ``auto`` when the device supports it (CUDA with bf16); None
    means full precision. CPU autocast to bf16 is slower than fp32 on most CPUs, so ``auto``
    stays fp32 there."""
    if mixed_precision == "bf16":
        return torch.bfloat16
    if mixed_precision == "fp16":
        return torch.float16
    if mixed_precision == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def load_runtime_for(
    model: str, adapter: str = "", *, sampling: Any = None, constrained: bool = False
) -> Any:
    """The ``hf`` runtime of a trained stage, built by the one runtime factory: ``adapter``
    may be a LoRA adapter dir (loaded over ``model``) or a full model dir (``r = 0``
    training), which replaces ``model``. ``constrained`` decodes inside the protocol
    grammar (``frs_ros/reasoning/grammar.py``)."""
    from frs_ros.reasoning.runtime import load_runtime

    spec: dict[str, Any] = {"kind": "hf", "model": model, "constrained": constrained}
    if adapter and not os.path.isfile(os.path.join(adapter, "adapter_config.json")):
        spec |= {"model": adapter, "dtype": "float32"}
    elif adapter:
        spec["adapter"] = adapter
    if sampling is not None:
        spec["sampling"] = dataclasses.asdict(sampling)
    return load_runtime(spec)
