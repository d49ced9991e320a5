"""Reasoner LLM cost at the Qwen3-0.6B architecture (random weights), through HFRuntime.

Random weights cost the same compute as trained ones (docs/DESIGN.md §7). Token ids come from
the tiny tokenizer (frs_ros/assets/tiny_llm, vocab ~2.7k): the real Qwen3 tokenizer cannot
be downloaded here, so token *counts* are the tiny tokenizer's, while every forward pass
runs the full 0.6B network (151936-entry vocabulary head included).

Measures, side by side in one run (the CPU is shared, so compare ratios):
  (a) prefill of a 20-object, 8-frame twin in compact vs verbose JSON (verbose capped);
  (b) second-query prefill on the same twin with vs without the reused KV-cache prefix;
  (c) decode ms/token in fp32 and bf16 next to the floor weight bytes / copy bandwidth.

    python benchmarks/reasoning.py [--verbose-cap 4096] [--decode-tokens 8] [--repeats 3]

Short timings (decode, reused-prefix prefill) are the best of --repeats; the long cold
prefills run once.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from transformers import Qwen3Config, Qwen3ForCausalLM

from frs_ros.reasoning.runtime.hf import HFRuntime
from frs_ros.reasoning.runtime.tiny_tokenizer import load_tiny_tokenizer
from frs_ros.twin import to_compact, to_verbose
from frs_ros.twin.synthetic import random_twin

SYSTEM = (
    "You answer reasoning segmentation queries over a digital twin. Write <reason>, then "
    'optional <plan> tool calls, then <answer>{"ids": [...]}</answer>.\nTwin: '
)
QUERY_1 = "Which object could I pour hot tea into?"
QUERY_2 = "Now the one to its left, closest to the camera."


def qwen3_06b_config(vocab_size: int = 151936) -> Qwen3Config:
    """Qwen/Qwen3-0.6B's config.json values (hub model card)."""
    return Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=1024,
        intermediate_size=3072,
        num_hidden_layers=28,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=128,
        max_position_embeddings=40960,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        bos_token_id=151643,
        eos_token_id=151645,
    )


def copy_bandwidth_gbs(n_bytes: int = 1 << 30, repeats: int = 3) -> float:
    """Best (read + write) bytes per second of a large tensor copy, in GB/s."""
    src = torch.ones(n_bytes // 4, dtype=torch.float32)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t)
    return 2 * n_bytes / best / 1e9


def weight_bytes(model: torch.nn.Module) -> int:
    # parameters() yields the tied embedding / LM head once; decode reads it once per token
    return sum(p.numel() * p.element_size() for p in model.parameters())


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t, out


def progress(msg: str) -> None:
    print(f"[reasoning bench] {msg}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--verbose-cap", type=int, default=4096, help="max verbose prompt tokens")
    ap.add_argument("--decode-tokens", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3, help="best-of for the short timings")
    args = ap.parse_args()

    tok = load_tiny_tokenizer()
    tok.model_max_length = 1 << 30  # the full verbose twin is longer than Qwen3's context
    twin = random_twin(20, 8)
    compact, verbose = to_compact(twin), to_verbose(twin)
    progress("building Qwen3-0.6B architecture with random weights (fp32)")
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(qwen3_06b_config()).eval()
    n_verbose_full = len(tok(verbose, add_special_tokens=False)["input_ids"])

    progress("measuring copy bandwidth")
    bw = copy_bandwidth_gbs()
    rows: list[tuple[str, str, str]] = []
    decode: dict[str, tuple[float, float]] = {}

    for dtype in (torch.float32, torch.bfloat16):
        model = model.to(dtype)
        name = "fp32" if dtype == torch.float32 else "bf16"
        rt = HFRuntime(model, tok)
        short = rt.format_prompt(SYSTEM + "{}", QUERY_1)
        progress(f"{name}: decode {args.decode_tokens} tokens (best of {args.repeats})")
        per_token = []
        for _ in range(args.repeats):
            rt.next_token_logits(short)  # cache the prompt: every forward below is one token
            s, c = timed(rt.complete, short, stop=[], max_new_tokens=args.decode_tokens)
            per_token.append(s / c.n_tokens)
        decode[name] = (min(per_token) * 1e3, weight_bytes(model) / (bw * 1e9) * 1e3)
        if dtype == torch.float32:
            continue

        progress("bf16: compact prefill")
        p1 = rt.format_prompt(SYSTEM + compact, QUERY_1)
        rt.reset_cache()
        s_compact, _ = timed(rt.next_token_logits, p1)
        n_compact = rt.last_prefill_tokens
        progress("bf16: second query, cold vs reused prefix")
        p2 = rt.format_prompt(SYSTEM + compact, QUERY_2)
        warm = []
        for _ in range(args.repeats):
            rt.next_token_logits(p1)  # the first query's prompt in the cache
            warm.append(timed(rt.next_token_logits, p2)[0])
        s_warm, n_warm = min(warm), rt.last_prefill_tokens
        rt.reset_cache()
        s_cold, _ = timed(rt.next_token_logits, p2)
        n_cold = rt.last_prefill_tokens
        rows += [
            ("(b) second query prefill, cold, bf16", f"{n_cold}", f"{s_cold:.2f} s"),
            ("(b) second query prefill, reused twin prefix, bf16", f"{n_warm}", f"{s_warm:.3f} s"),
            ("(b) speed-up from prefix reuse", "", f"{s_cold / s_warm:.1f}×"),
        ]

        progress("bf16: verbose prefill")
        capped = tok.decode(tok(verbose, add_special_tokens=False)["input_ids"][: args.verbose_cap])
        pv = rt.format_prompt(SYSTEM + capped, QUERY_1)
        rt.reset_cache()
        s_verbose, _ = timed(rt.next_token_logits, pv)
        n_verbose = rt.last_prefill_tokens
        per_tok = s_verbose / n_verbose
        rows += [
            ("(a) compact twin prefill, bf16", f"{n_compact}", f"{s_compact:.2f} s"),
            (
                f"(a) verbose twin prefill, bf16 (capped at {args.verbose_cap} twin tokens)",
                f"{n_verbose}",
                f"{s_verbose:.2f} s",
            ),
            (
                "(a) verbose twin, full (linear estimate, a lower bound)",
                f"{n_verbose_full}",
                f"≥ {per_tok * n_verbose_full:.0f} s",
            ),
        ]

    for name, (ms, floor) in decode.items():
        rows.append((f"(c) decode, {name}", "1/step", f"{ms:.0f} ms/token (floor {floor:.0f} ms)"))

    print(
        f"Qwen3-0.6B architecture, random weights, HFRuntime, CPU threads: "
        f"{torch.get_num_threads()}; copy bandwidth (read + write): {bw:.1f} GB/s; "
        f"weights fp32 {weight_bytes(model) * 2 / 1e9:.2f} GB. Token counts: tiny tokenizer "
        f"(vocab {len(tok)}).\n"
    )
    print("| measurement | prompt tokens prefilled | time |")
    print("|---|---:|---:|")
    for row in sorted(rows, key=lambda r: r[0][:3]):  # (a), (b), (c); stable within
        print(f"| {row[0]} | {row[1]} | {row[2]} |")


if __name__ == "__main__":
    main()
