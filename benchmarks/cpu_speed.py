"""The reasoner on a CPU robot: every runtime side by side in one run (issue 15, docs/cpu.md).

Qwen3-0.6B architecture with random weights (random weights cost the same compute as
trained ones), 2 threads, the tiny tokenizer (the real Qwen3 tokenizer cannot be
downloaded here, so token *counts* are the tiny tokenizer's). Rows: torch fp32, torch bf16
(HFRuntime) and onnxruntime-genai int4 / int8 (OrtGenaiRuntime, converted by the same code
as `frs export-cpu`). Each runtime runs in its own subprocess, so its peak RSS is its own.

Columns:
- decode ms/token (best of --repeats x --decode-tokens) and its ratio to the floor
  weight bytes / copy bandwidth (bandwidth measured at the start of this run);
- prefill tok/s of a cold 1,024-token prompt;
- cold start: the system prompt's prefill (once per process: the cache keeps it);
- first query on a new compact twin (system prompt cached) and a follow-up query on the
  same twin (min-max over --queries): the benchmark's oracle rollouts replayed with
  teacher forcing, i.e. the prompt prefilled, every model-written token one forward pass
  (what generating it costs), every engine ``<results>`` block prefilled; tool execution
  itself is not timed.

A second table (issue 15 item 4) counts tokens per query for the full and brief system
prompts on the benchmark's oracle chains, and checks that the oracle's accuracy stays 1.0.

    python benchmarks/cpu_speed.py [--work-dir /tmp/frs_cpu_speed] [--prompt brief]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")

RUNTIMES = ("torch-fp32", "torch-bf16", "ort-int4", "ort-int8")
THREADS = 2


def progress(msg: str) -> None:
    print(f"[cpu bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- rollouts


def oracle_rollouts(prompt_style: str, n_per_cell: int) -> list[dict[str, Any]]:
    """Benchmark samples' oracle chains through the real engine: prompts, spans, outcome."""
    from frs_ros.benchmark.generator import generate_split
    from frs_ros.evaluation.predictors import model_segments
    from frs_ros.reasoning import Reasoner, ReasonerConfig
    from frs_ros.reasoning.engine import MAX_NEW_TOKENS
    from frs_ros.reasoning.runtime.base import ScriptedRuntime

    config = ReasonerConfig(
        max_rounds=8, max_new_tokens=MAX_NEW_TOKENS, timeout_s=600.0, prompt=prompt_style
    )
    out = []
    for s in generate_split("test", n_per_cell, seed=0, progress=False):
        first = Reasoner(ScriptedRuntime(model_segments(s.oracle)), config).answer(s.twin, s.query)
        follow = Reasoner(ScriptedRuntime(model_segments(s.oracle)), config).answer(
            s.twin, s.query, previous=first
        )
        out.append(
            {
                "id": s.id,
                "objects": len(s.twin.latest.objects),
                "correct": sorted(first.ids) == sorted(s.gt_ids),
                "chain_ok": first.transcript.rollout == s.oracle,
                "first": (first.transcript.prompt, first.transcript.spans),
                "follow": (follow.transcript.prompt, follow.transcript.spans),
            }
        )
    return out


def token_table(tok: Any, n_per_cell: int) -> str:
    """Tokens per query, full vs brief system prompt, on the oracle chains (item 4)."""
    from frs_ros.reasoning.prompt import system_prompt

    lines = [
        "| system prompt | system tokens | twin + query tokens (mean) | model tokens (mean) "
        "| engine tokens (mean) | fresh-process query total (mean) | oracle accuracy "
        "| chains reproduced |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    n = lambda text: len(tok(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    for style in ("full", "brief"):
        rollouts = oracle_rollouts(style, n_per_cell)
        system = n(system_prompt(style=style))
        user = model = engine = total = 0.0
        for r in rollouts:
            prompt, spans = r["first"]
            user += n(prompt) - system
            model += sum(n(t) for t, src in spans if src == "model")
            engine += sum(n(t) for t, src in spans if src == "engine")
            total += n(prompt) + sum(n(t) for t, _ in spans)
        k = len(rollouts)
        acc = sum(r["correct"] for r in rollouts) / k
        ok = sum(r["chain_ok"] for r in rollouts)
        lines.append(
            f"| {style} | {system} | {user / k:.0f} | {model / k:.0f} | {engine / k:.0f} "
            f"| {total / k:.0f} | {acc:.2f} | {ok}/{k} |"
        )
    return "\n".join(lines)


def replay(rt: Any, prompt: str, spans: list[tuple[str, str]]) -> float:
    """Seconds to run a rollout: prompt and engine text prefilled, model text token by token.

    Uses the runtimes' cache primitives (``_prefill`` reuses the cached prefix; ``_forward``
    runs one generated token), so the cost is exactly what ``complete`` would spend."""
    t = time.perf_counter()
    ids = rt.encode(prompt)
    rt._prefill(ids)
    for text, source in spans:
        new = rt.encode(text)
        if source == "engine":
            rt._prefill(ids + new)
        else:
            for token in new:
                rt._forward([token])
        ids = ids + new
    return time.perf_counter() - t


# ---------------------------------------------------------------------- one runtime


def peak_rss_mb() -> float:
    """This process's peak RSS. Not ``ru_maxrss``: Linux keeps that across ``execve``, so a
    child would report at least its parent's peak; ``VmHWM`` belongs to the new image."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(name: str, work: Path) -> tuple[Any, int]:
    """The runtime and the bytes of weights one decode step reads."""
    import torch

    torch.set_num_threads(THREADS)
    if name.startswith("torch"):
        from reasoning import weight_bytes

        from frs_ros.reasoning.runtime.hf import HFRuntime

        dtype = "float32" if name == "torch-fp32" else "bfloat16"
        rt = HFRuntime.from_pretrained(work / "hf", dtype=dtype)
        return rt, weight_bytes(rt.model)
    from frs_ros.reasoning.runtime.ort_genai import OrtGenaiRuntime

    path = work / name
    rt = OrtGenaiRuntime(path, threads=THREADS)
    return rt, sum(f.stat().st_size for f in path.glob("*.onnx*"))


def measure(name: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    rt, n_bytes = load(name, work)
    tok_ids = list(range(100, 100 + 1024))  # ordinary tokens of the tiny vocabulary
    with torch.inference_mode():
        rt._prefill(tok_ids[:8])  # first-call set-up (allocations, kernels) is not prefill
        rt.reset_cache()
        t = time.perf_counter()
        rt._prefill(tok_ids)
        prefill = 1024 / (time.perf_counter() - t)

        per_token = []
        for r in range(args.repeats):
            rt._prefill(tok_ids[:64])  # a short cached context; every step below is 1 token
            t = time.perf_counter()
            for i in range(args.decode_tokens):
                rt._forward([200 + i + r])
            per_token.append((time.perf_counter() - t) / args.decode_tokens)

        tests = [r for r in oracle_rollouts(args.prompt, 1) if r["objects"] <= 10]
        tests = tests[: args.queries]
        rt.reset_cache()
        # the process starts: the system prompt is prefilled once and stays cached
        system_text = tests[0]["first"][0].split("<|im_start|>user")[0]
        t = time.perf_counter()
        rt._prefill(rt.encode(system_text))
        cold_start = time.perf_counter() - t
        system_tokens = rt.last_prefill_tokens
        first, follow = [], []
        for r in tests:
            first.append(replay(rt, *r["first"]))
            follow.append(replay(rt, *r["follow"]))
    return {
        "runtime": name,
        "decode_s": min(per_token),
        "weight_bytes": n_bytes,
        "prefill_tps": prefill,
        "cold_start_s": cold_start,
        "system_tokens": system_tokens,
        "first_s": (min(first), max(first)),
        "follow_s": (min(follow), max(follow)),
        "queries": len(tests),
        "peak_rss_mb": peak_rss_mb(),
    }


# ---------------------------------------------------------------------- set-up


def prepare(work: Path) -> None:
    """A random-weight Qwen3-0.6B checkpoint and its int4 / int8 conversions (cached)."""
    import torch
    from reasoning import qwen3_06b_config
    from transformers import Qwen3ForCausalLM

    from frs_ros.reasoning.runtime.ort_genai import convert
    from frs_ros.reasoning.runtime.tiny_tokenizer import load_tiny_tokenizer

    if not (work / "hf" / "config.json").is_file():
        progress("saving a random-weight Qwen3-0.6B checkpoint (bf16, like the hub's)")
        torch.manual_seed(0)
        model = Qwen3ForCausalLM(qwen3_06b_config()).to(torch.bfloat16)
        model.save_pretrained(str(work / "hf"))
        load_tiny_tokenizer().save_pretrained(str(work / "hf"))
        del model
    for precision in ("int4", "int8"):
        if not (work / f"ort-{precision}" / "genai_config.json").is_file():
            progress(f"converting to {precision} (frs export-cpu)")
            convert(work / "hf", work / f"ort-{precision}", precision=precision, work_dir=work)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work-dir", default="/tmp/frs_cpu_speed", help="checkpoints (cached)")
    ap.add_argument("--prompt", choices=("full", "brief"), default="brief")
    ap.add_argument("--decode-tokens", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--queries", type=int, default=1, help="timed queries (min-max reported)")
    ap.add_argument("--runtimes", nargs="+", choices=RUNTIMES, default=list(RUNTIMES))
    ap.add_argument("--one", choices=RUNTIMES, help=argparse.SUPPRESS)  # child process
    args = ap.parse_args()
    work = Path(args.work_dir)
    if args.one:
        print(json.dumps(measure(args.one, work, args)))
        return

    from reasoning import copy_bandwidth_gbs

    from frs_ros.reasoning.runtime.hf import auto_dtype, cpu_has_fast_bf16
    from frs_ros.reasoning.runtime.tiny_tokenizer import load_tiny_tokenizer

    t0 = time.time()
    work.mkdir(parents=True, exist_ok=True)
    prepare(work)
    load_avg = os.getloadavg()
    bw = copy_bandwidth_gbs()
    rows = []
    for name in args.runtimes:
        progress(f"{name}: measuring in a subprocess")
        cmd = [sys.executable, __file__, "--one", name, *sys.argv[1:]]
        run = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise RuntimeError(f"{name} failed:\n{run.stderr[-3000:]}")
        rows.append(json.loads(run.stdout.strip().splitlines()[-1]))
    load_after = os.getloadavg()

    import torch

    auto = auto_dtype(torch.bfloat16, torch.device("cpu"))
    print(
        f"Qwen3-0.6B architecture, random weights, {THREADS} threads, {os.cpu_count()} CPUs; "
        f"copy bandwidth (read + write) {bw:.1f} GB/s; CPU native bf16: {cpu_has_fast_bf16()} "
        f"(`dtype: auto` on a bf16 checkpoint loads {str(auto).removeprefix('torch.')}); "
        f"load average before / after: {load_avg[0]:.1f} / {load_after[0]:.1f}; "
        f"{args.prompt} system prompt ({rows[0]['system_tokens']} tokens), "
        f"{rows[0]['queries']} timed queries (min-max), twins of <= 10 objects; "
        f"run took {time.time() - t0:.0f} s.\n"
    )
    print(
        "| runtime | decode ms/token | floor ms (weights GB) | x floor | prefill tok/s (1,024) "
        "| cold start: system prompt s | first query, new twin s | follow-up, same twin s "
        "| peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        floor = r["weight_bytes"] / (bw * 1e9)
        print(
            f"| {r['runtime']} | {r['decode_s'] * 1e3:.0f} | {floor * 1e3:.0f} "
            f"({r['weight_bytes'] / 1e9:.2f}) | {r['decode_s'] / floor:.1f} "
            f"| {r['prefill_tps']:.0f} | {r['cold_start_s']:.1f} "
            f"| {r['first_s'][0]:.1f}-{r['first_s'][1]:.1f} "
            f"| {r['follow_s'][0]:.1f}-{r['follow_s'][1]:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    print()
    print("Tokens per query on the benchmark's oracle chains (test split, tiny tokenizer):\n")
    print(token_table(load_tiny_tokenizer(), 2))


if __name__ == "__main__":
    main()
