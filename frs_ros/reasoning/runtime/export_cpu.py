"""``frs export-cpu``: a trained student -> the ort-genai CPU runtime's model directory.

Kept apart from :mod:`~frs_ros.reasoning.runtime.ort_genai` so building the ``frs``
parser does not import torch or onnxruntime-genai (they are imported when converting).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# precision -> (the builder's --precision, its extra options). int4-mixed: k-quant int4
# with int8 where it matters most (the LM head, the first and last eighth of the layers,
# every third layer's qkv/v/down projections: llama.cpp's Q4_K_M strategy). On the
# SmolLM2 student it still changed greedy choices and lost accuracy (docs/cpu.md).
BUILDER_PRECISION: dict[str, tuple[str, tuple[str, ...]]] = {
    "int4": ("int4", ()),
    "int4-mixed": ("int4", ("algo_config=k_quant_mixed",)),
    "int8": ("int8", ()),
    "fp32": ("fp32", ()),
}
PRECISIONS = tuple(BUILDER_PRECISION)


def add_export_cpu_parser(sub: Any) -> None:
    """``frs export-cpu MODEL [--adapter DIR] [--precision int4] --out DIR``."""
    p = sub.add_parser(
        "export-cpu",
        help="convert a trained student to int4/int8 ONNX for the ort-genai CPU runtime",
    )
    p.add_argument("model", help="hub id, merged checkpoint directory, or tiny (random test model)")
    p.add_argument("--adapter", default=None, help="LoRA adapter directory, merged first")
    p.add_argument("--precision", choices=PRECISIONS, default="int4")
    p.add_argument(
        "--all-logits",
        action="store_true",
        help="keep every position's logits (runtime.draft_tokens needs it; prefill does more)",
    )
    p.add_argument("--out", required=True, help="output directory (runtime.model of ort-genai)")
    p.add_argument("--work-dir", default=None, help="where the temporary float32 copy goes")
    p.set_defaults(func=cmd_export_cpu)


def cmd_export_cpu(args: argparse.Namespace) -> int:
    out = convert(
        args.model,
        args.out,
        adapter=args.adapter,
        precision=args.precision,
        all_logits=args.all_logits,
        work_dir=args.work_dir,
    )
    print(f"export-cpu: {args.precision} -> {out}")
    print(f"use it with `runtime: {{kind: ort-genai, model: {out}}}` (config/reasoner_cpu.yaml)")
    return 0


def convert(
    model: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    adapter: str | os.PathLike[str] | None = None,
    precision: str = "int4",
    all_logits: bool = False,
    work_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Convert a Qwen3 student into an onnxruntime-genai model directory; returns ``out``.

    ``model``: hub id, local (merged) checkpoint directory, or ``tiny`` (the random test
    model). ``adapter``: a LoRA adapter directory, merged into the weights first (peft).
    ``precision``: ``int4`` (the CPU default), ``int4-mixed`` (int4 with int8 where it
    matters most), ``int8`` or ``fp32`` (exact, for checks).
    ``all_logits``: the graph returns every position's logits, not only the last one's
    (checking prompt-lookup drafts needs them; a prefill then runs the LM head on every
    position).
    The weights pass through a float32 Hugging Face checkpoint in ``work_dir`` (a temporary
    directory by default), then onnxruntime-genai's model builder runs in a subprocess.
    """
    from frs_ros.reasoning.runtime.ort_genai import EXPORT_MANIFEST, require_ort_genai

    require_ort_genai()
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    builder_precision, quant_options = BUILDER_PRECISION[precision]
    out = Path(out)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        hf_dir = Path(tmp) / "hf"
        tokenizer, tied, parameters = _save_merged(str(model), adapter, hf_dir)
        cmd = [
            sys.executable,
            "-m",
            "onnxruntime_genai.models.builder",
            *("-i", str(hf_dir), "-o", str(out), "-p", builder_precision, "-e", "cpu"),
            *("-c", str(Path(tmp) / "cache")),
        ]
        # prune_lm_head: a prefill computes the LM head for its last position only (the
        # runtime reads no other logits unless it checks drafts; at 0.6B the head is ~1/4
        # of prefill FLOPs)
        options = list(quant_options)
        if not all_logits:
            options.append("prune_lm_head=true")
        if tied:  # one quantized table serves embedding and LM head: ~0.3 GB less at 0.6B
            options.append("shared_embeddings=true")
        if options:
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
        "all_logits": all_logits,
        "parameters": parameters,  # of the float checkpoint (efficiency tables report it)
        "onnxruntime_genai": require_ort_genai().__version__,
    }
    (out / EXPORT_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def _save_merged(
    model: str, adapter: str | os.PathLike[str] | None, dest: Path
) -> tuple[Any, bool, int]:
    """Save ``model`` (+ merged ``adapter``) as a float32 HF checkpoint; (tokenizer, tied,
    parameter count)."""
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
    tied = bool(getattr(lm.config, "tie_word_embeddings", False))
    return rt.tokenizer, tied, sum(p.numel() for p in lm.parameters())
