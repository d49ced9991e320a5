"""CPU runtime: onnxruntime-genai (int4 / int8 ONNX) behind the same contract as ``HFRuntime``.

Why this runtime for a CPU robot: docs/cpu.md (decode reads ~4× fewer weight bytes than
torch fp32, and the wheel is prebuilt). It keeps one ``og.Generator`` alive as the KV
cache: ``rewind_to`` crops it to the longest common token prefix and ``append_tokens``
prefills the rest, so tool rounds resume the same sequence and the system prompt is
prefilled once per process. Tokens are chosen here from the logits (the shared loop in
:mod:`~frs_ros.reasoning.runtime.decoding`), never by ``generate_next_token``: that leaves
the sampled token outside the cache, and appending after it silently computes wrong
logits (measured), whereas feeding every token with ``append_tokens`` keeps the cache and
``_cached_ids`` equal at all times. Tokenization is the Hugging Face tokenizer saved next
to the model, so token ids match training and ``HFRuntime`` exactly.

``convert`` turns a trained student (hub id / merged directory, optionally + a LoRA
adapter, merged first) into the directory this runtime loads (``frs export-cpu``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from frs_ros.reasoning.runtime.base import Sampling
from frs_ros.reasoning.runtime.decoding import CachedTokenRuntime
from frs_ros.reasoning.runtime.export_cpu import PRECISIONS

DEFAULT_CONTEXT = 4096
EXPORT_MANIFEST = "frs_export.json"
_INSTALL_HINT = "pip install 'frs_ros[cpu-llm]' torch==2.13.0"


def require_ort_genai() -> Any:
    """Import onnxruntime_genai or fail with how to install it."""
    try:
        import onnxruntime_genai
    except ImportError as err:
        raise ImportError(
            f"the ort-genai reasoner runtime needs onnxruntime-genai: {_INSTALL_HINT}"
        ) from err
    return onnxruntime_genai


class OrtGenaiRuntime(CachedTokenRuntime):
    """An :class:`~frs_ros.reasoning.runtime.base.LLMRuntime` over an onnxruntime-genai model.

    ``model_dir`` is what :func:`convert` writes. ``context`` bounds prompt + generated
    tokens: onnxruntime-genai preallocates the KV cache for it (0.6B, fp32 cache: about
    0.23 MB per token, so 4096 tokens ≈ 0.9 GB). ``threads`` sets the intra-op threads
    (None: onnxruntime's default, one per physical core).
    """

    def __init__(
        self,
        model_dir: str | os.PathLike,
        *,
        threads: int | None = None,
        context: int = DEFAULT_CONTEXT,
        thinking: bool = False,
        sampling: Sampling | None = None,
        reuse_cache: bool = True,
        constrained: bool = False,
    ) -> None:
        og = require_ort_genai()
        from transformers import AutoTokenizer

        root = Path(model_dir)
        if not (root / "genai_config.json").is_file():
            raise FileNotFoundError(
                f"{root} is not an onnxruntime-genai model (no genai_config.json); "
                f"convert a checkpoint with `frs export-cpu MODEL --out {root}`"
            )
        if context < 2:
            raise ValueError(f"context must be >= 2 tokens, got {context}")
        genai = json.loads((root / "genai_config.json").read_text())
        self.context = min(context, int(genai["model"].get("context_length", context)))
        config = og.Config(str(root))
        overlay: dict[str, Any] = {"search": {"max_length": self.context}}
        if threads is not None:
            if threads < 1:
                raise ValueError(f"threads must be >= 1, got {threads}")
            session = {"intra_op_num_threads": threads, "inter_op_num_threads": 1}
            overlay["model"] = {"decoder": {"session_options": session}}
        config.overlay(json.dumps(overlay))
        self.model_dir = root
        self.og_model = og.Model(config)
        self._params = og.GeneratorParams(self.og_model)
        self._og = og
        self._gen: Any = None
        tokenizer = AutoTokenizer.from_pretrained(str(root), local_files_only=True)
        eos = genai["model"].get("eos_token_id")
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            eos_ids.add(tokenizer.eos_token_id)
        super().__init__(
            tokenizer,
            eos_ids=eos_ids,
            thinking=thinking,
            sampling=sampling,
            reuse_cache=reuse_cache,
            constrained=constrained,
        )

    # ------------------------------------------------------------------ backend hooks

    def _forward(self, ids: list[int]) -> torch.Tensor:
        total = len(self._cached_ids) + len(ids)
        if total > self.context:
            raise ValueError(
                f"the transcript needs {total} tokens but the ort-genai runtime's context "
                f"is {self.context}; raise runtime.context in the reasoner config"
            )
        gen = (
            self._gen if self._gen is not None else self._og.Generator(self.og_model, self._params)
        )
        # Invalidate first: an exception mid-append leaves the cache in an unknown state.
        self._gen, fed = None, self._cached_ids
        self._cached_ids = []
        gen.append_tokens(np.asarray(ids, dtype=np.int32))
        logits = torch.from_numpy(np.array(gen.get_logits(), dtype=np.float32).reshape(-1))
        self._gen, self._cached_ids = gen, fed + list(ids)
        return logits

    def _crop(self, keep: int) -> None:
        self._gen.rewind_to(keep)

    def _drop_cache(self) -> None:
        self._gen = None


# ---------------------------------------------------------------------- conversion


def convert(
    model: str | os.PathLike,
    out: str | os.PathLike,
    *,
    adapter: str | os.PathLike | None = None,
    precision: str = "int4",
    work_dir: str | os.PathLike | None = None,
) -> Path:
    """Convert a Qwen3 student into an onnxruntime-genai model directory; returns ``out``.

    ``model``: hub id, local (merged) checkpoint directory, or ``tiny`` (the random test
    model). ``adapter``: a LoRA adapter directory, merged into the weights first (peft).
    ``precision``: ``int4`` (the CPU default), ``int8`` or ``fp32`` (exact, for checks).
    The weights pass through a float32 Hugging Face checkpoint in ``work_dir`` (a temporary
    directory by default), then onnxruntime-genai's model builder runs in a subprocess.
    """
    require_ort_genai()
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    out = Path(out)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        hf_dir = Path(tmp) / "hf"
        tokenizer, tied = _save_merged(str(model), adapter, hf_dir)
        cmd = [
            sys.executable,
            "-m",
            "onnxruntime_genai.models.builder",
            *("-i", str(hf_dir), "-o", str(out), "-p", precision, "-e", "cpu"),
            *("-c", str(Path(tmp) / "cache")),
        ]
        # prune_lm_head: a prefill computes the LM head for its last position only (the
        # runtime reads no other logits; at 0.6B the head is ~1/4 of prefill FLOPs)
        options = ["prune_lm_head=true"]
        if tied:  # one quantized table serves embedding and LM head: ~0.3 GB less at 0.6B
            options.append("shared_embeddings=true")
        cmd += ["--extra_options", *options]
        run = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            tail = (run.stdout + run.stderr)[-3000:]
            raise RuntimeError(f"onnxruntime-genai model builder failed:\n{tail}")
    tokenizer.save_pretrained(str(out))  # HF tokenizer + chat template, read by the runtime
    manifest = {
        "source": str(model),
        "adapter": None if adapter is None else str(adapter),
        "precision": precision,
        "onnxruntime_genai": require_ort_genai().__version__,
    }
    (out / EXPORT_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def _save_merged(model: str, adapter: str | os.PathLike | None, dest: Path) -> tuple[Any, bool]:
    """Save ``model`` (+ merged ``adapter``) as a float32 HF checkpoint; (tokenizer, tied)."""
    import warnings

    from frs_ros.reasoning.runtime.hf import HFRuntime

    if model == "tiny":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the MEANINGLESS warning is for serving, not this
            rt = HFRuntime.tiny(adapter=adapter)
    else:
        rt = HFRuntime.from_pretrained(model, adapter=adapter, dtype="float32")
    lm = rt.model.merge_and_unload() if adapter is not None else rt.model
    # A GGUF source is already dequantised to float32 by transformers; its quantizer marks
    # would make save_pretrained refuse and the model builder reject the checkpoint.
    if str(model).endswith(".gguf"):
        lm.hf_quantizer = None
        if hasattr(lm.config, "quantization_config"):
            del lm.config.quantization_config
    lm.save_pretrained(str(dest))
    rt.tokenizer.save_pretrained(str(dest))
    return rt.tokenizer, bool(getattr(lm.config, "tie_word_embeddings", False))
